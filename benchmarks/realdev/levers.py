"""The levers of the default case model, one at a time, on the real development set.

    .venv/bin/python benchmarks/realdev/levers.py [--datasets ../shared/datasets] [--json FILE]

Trains on the seed corpus's train split (seed 0) with the project's default parameters, adding
one lever after another, and reports each model on both halves of the real development set
(benchmarks/realdev/labels.csv): accuracy overall and per language, the share of texts the
cascade sent to the sentence encoder, and the review guard (share routed automatically, and the
precision of those). The levers were chosen on `tune`; `check` is the report. The corpus lever
(the third writing pass) is in every row: the "before" model is benchmarks/cases_real.py run on
a registry built at commit 16cd3bb. Takes several minutes: each encoder row encodes the real
texts the cascade sends to it (the training texts come from the embedding cache after the
first run). Skips with a message when ../shared/datasets is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks.realdev.dataset import DEFAULT_DATASETS, load_realdev  # noqa: E402
from triage.cases.training import default_params, fit_case_model  # noqa: E402
from triage.corpus import load_corpus  # noqa: E402


def levers() -> list[tuple[str, dict]]:
    """(name, parameters) of each row: each adds a lever to the one before (the fourth row
    replaces the cascade by encoding every text)."""
    default = default_params()
    no_floors = {**default, "min_confidence": 0.0}
    return [
        ("TF-IDF only (third-pass corpus)", {**no_floors, "embeddings": None}),
        ("+ USE v3 embeddings, cascade 0.9", {**no_floors, "embeddings": "use-multilingual-v3"}),
        ("+ e5 embeddings instead, cascade 0.9", no_floors),
        ("e5, every text encoded (no cascade)", {**no_floors, "cascade_confidence": 2.0}),
        ("+ per-class review floors: the default model", default),
    ]


def measure(model, frame) -> dict:
    scored = model.scores(frame["text"].tolist())
    predicted = model.classes_[scored.proba.argmax(axis=1)]
    correct = predicted == frame["label"].to_numpy()
    language = frame["lang"].to_numpy()
    routed = ~scored.needs_review
    return {
        "n": int(len(frame)),
        "accuracy": round(float(correct.mean()), 4),
        "zh": round(float(correct[language == "zh"].mean()), 4),
        "en": round(float(correct[language == "en"].mean()), 4),
        "encoded": round(float(scored.encoded.mean()), 4),
        "routed": round(float(routed.mean()), 4),
        "precision_routed": round(float(correct[routed].mean()), 4) if routed.any() else None,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    try:
        real = load_realdev(args.datasets)
    except FileNotFoundError as exc:
        print(f"skipped: {exc}")
        return 0
    corpus = load_corpus(ROOT / "data" / "corpus")
    train = corpus[corpus["split"] == "train"]
    rows = []
    print("| lever | split | accuracy | zh | en | encoded | routed | precision routed |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for name, params in levers():
        model = fit_case_model(
            train["text"].tolist(), train["category"].tolist(), seed=0, params=params
        )
        for split in ("tune", "check"):
            figures = measure(model, real[real["split"] == split])
            rows.append({"lever": name, "split": split, **figures})
            f = figures
            print(
                f"| {name} | {split} | {f['accuracy']:.3f} | {f['zh']:.3f} | {f['en']:.3f} | "
                f"{f['encoded']:.2f} | {f['routed']:.3f} | {f['precision_routed']} |",
                flush=True,
            )
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
