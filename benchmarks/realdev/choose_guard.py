"""Choose the default model's cascade and review floors on the tune half of the real set.

    .venv/bin/python benchmarks/realdev/choose_guard.py [--models DIR] [--target 0.9]

Builds the default case model as `make run` does (or takes the champion of --models), turns its
floors off, and scores the tune half of benchmarks/realdev/labels.csv through both heads: prints
the cascade's accuracy and the share of texts it encodes for several `cascade_confidence` values,
and the per-class confidence floors that hold the target precision on these real texts
(`choose_thresholds`, the rule the model applies to its own out-of-fold predictions). The floors
printed are what `triage.cases.training.DEFAULT_PARAMS["min_confidence"]` holds. The check half
is never read here.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import scipy.sparse as sp

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.cases_real import build_router  # noqa: E402
from benchmarks.realdev.dataset import DEFAULT_DATASETS, load_realdev  # noqa: E402
from triage.cases.calibration import choose_thresholds, scores_to_proba  # noqa: E402
from triage.cases.features import transform_features  # noqa: E402


def both_heads(model, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Calibrated probabilities of the TF-IDF head and of the full head, every text encoded."""
    tfidf = transform_features(model.features_, texts)
    fast = model.fast_linear_
    raw = model._scores(fast, tfidf, len(model.classes_), fast.classes_)
    dense = model.embedder_.transform(texts)
    full = model.proba_from_matrix(sp.hstack([tfidf, sp.csr_matrix(dense)], format="csr"))
    return scores_to_proba(raw, model.fast_temperature_), full


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--models", type=Path, help="use this registry's champion case model")
    parser.add_argument("--target", type=float, default=0.9, help="precision to hold (0.9)")
    args = parser.parse_args()
    try:
        tune = load_realdev(args.datasets, split="tune")
    except FileNotFoundError as exc:
        print(f"skipped: {exc} (the real texts are not in the repository)")
        return 0
    router, origin, _ = build_router(args.models)
    model = router.model
    if model.fast_linear_ is None or not model.encoder_active:
        print(f"{origin} has no sentence encoder that runs here: nothing to choose")
        return 1
    classes = list(model.classes_)
    y = np.array([classes.index(label) for label in tune["label"]])
    fast, full = both_heads(model, tune["text"].tolist())
    print(f"{origin}, tune half: {len(y)} texts")
    print("cascade_confidence  encoded  accuracy")
    for cut in (0.7, 0.8, 0.85, 0.9, 0.95, 0.99, 2.0):
        encoded = fast.max(axis=1) < cut
        proba = np.where(encoded[:, None], full, fast)
        print(f"{cut:>18}  {encoded.mean():7.3f}  {(proba.argmax(axis=1) == y).mean():8.4f}")
    encoded = fast.max(axis=1) < model.cascade_confidence
    proba = np.where(encoded[:, None], full, fast)
    floors = choose_thresholds(proba, y, args.target)
    predicted, confidence = proba.argmax(axis=1), proba.max(axis=1)
    routed = confidence >= floors[predicted]
    correct = predicted == y
    print(
        f"\nfloors at precision {args.target} (cascade_confidence {model.cascade_confidence}): "
        f"routed {routed.mean():.3f} of the tune texts at precision "
        f"{correct[routed].mean() if routed.any() else float('nan'):.3f}"
    )
    print("min_confidence = {")
    for name, floor in zip(classes, floors, strict=True):
        print(f'    "{name}": {round(float(floor), 3)},')
    print("}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
