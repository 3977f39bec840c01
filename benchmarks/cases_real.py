"""Transfer to real customer language: the default case model on the real development set.

    .venv/bin/python benchmarks/cases_real.py [--split check|tune|all] [--models DIR] [--no-encoder] [--json]

Builds the default case model exactly as `make run` does (triage bootstrap's
`train_default_case_model`, seed 0, in a temporary registry), or uses the champion of an existing
registry with --models, then predicts every labelled real text of benchmarks/realdev/labels.csv
(the texts are read from ../shared/datasets/realtext by SHA-1; skipped with a message when that
folder is absent) through `CaseRouter`, the code path of the HTTP service. Reports accuracy and
macro-F1 per language and per source, top-3 accuracy, the confusion matrix, and the review
guard's honesty: the share of texts routed automatically (coverage) and the precision of those.
Choose on `tune`, report `check` (the default).
"""

from __future__ import annotations

import argparse
import atexit
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cases_default_model import machine  # noqa: E402
from benchmarks.realdev.dataset import DEFAULT_DATASETS, load_realdev  # noqa: E402
from triage.cases.router import CaseRouter  # noqa: E402
from triage.config import Settings  # noqa: E402
from triage.registry import Registry  # noqa: E402
from triage.taxonomy import load_taxonomy  # noqa: E402


def _f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    from sklearn.metrics import f1_score

    return float(
        f1_score(truth, predicted, labels=sorted(set(truth)), average="macro", zero_division=0)
    )


def slice_figures(frame) -> dict:
    """Accuracy, macro-F1, top-3 and the guard's coverage/precision of a prediction frame."""
    truth, predicted = frame["label"].to_numpy(), frame["predicted"].to_numpy()
    correct = truth == predicted
    routed = ~frame["needs_review"].to_numpy()
    return {
        "n": int(len(frame)),
        "accuracy": round(float(correct.mean()), 4),
        "macro_f1": round(_f1(truth, predicted), 4),
        "top3": round(float(frame["in_top3"].mean()), 4),
        "coverage": round(float(routed.mean()), 4),
        "precision_routed": round(float(correct[routed].mean()), 4) if routed.any() else None,
        "close_calls": round(float(frame["close_call"].mean()), 4),
    }


def predict_frame(router: CaseRouter, frame):
    start = time.perf_counter()
    predictions = router.predict(frame["text"].tolist())
    seconds = time.perf_counter() - start
    frame = frame.copy()
    frame["predicted"] = [p.category for p in predictions]
    frame["confidence"] = [p.confidence for p in predictions]
    frame["needs_review"] = [p.needs_review for p in predictions]
    frame["close_call"] = [bool(getattr(p, "close_call", False)) for p in predictions]
    frame["in_top3"] = [
        label in {t["category"] for t in p.top}
        for label, p in zip(frame["label"], predictions, strict=True)
    ]
    return frame, seconds


def evaluate(router: CaseRouter, frame) -> dict:
    frame, seconds = predict_frame(router, frame)
    labels = sorted(set(frame["label"]) | set(frame["predicted"]))
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(labels), len(labels)), dtype=int)
    for truth, predicted in zip(frame["label"], frame["predicted"], strict=True):
        matrix[index[truth], index[predicted]] += 1
    return {
        "overall": slice_figures(frame),
        "per_language": {k: slice_figures(g) for k, g in frame.groupby("lang")},
        "per_source": {k: slice_figures(g) for k, g in frame.groupby("source")},
        "per_label": {
            k: {"n": int(len(g)), "recall": round(float((g["predicted"] == k).mean()), 4)}
            for k, g in frame.groupby("label")
        },
        "confusion_matrix": {"labels": labels, "matrix": matrix.tolist()},
        "ms_per_text": round(1000 * seconds / max(len(frame), 1), 2),
    }


def build_router(models: Path | None) -> tuple[CaseRouter, str, float]:
    taxonomy = load_taxonomy()
    if models is not None:
        router = CaseRouter.from_registry(Registry(models), taxonomy)
        return router, f"champion of {models}", 0.0
    from triage.cases.default import train_default_case_model

    folder = Path(tempfile.mkdtemp(prefix="cases-real-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)  # the model is loaded by then
    settings = Settings.from_env({"models_dir": folder / "models", "data_dir": folder})
    start = time.perf_counter()
    train_default_case_model(settings)
    seconds = time.perf_counter() - start
    router = CaseRouter.from_registry(Registry(settings.models_dir), taxonomy)
    return router, "default model as make run builds it", seconds


def print_report(result: dict) -> None:
    print(f"machine: {result['machine']}; model: {result['model']} ({result['version']})")
    for split, report in result["splits"].items():
        o = report["overall"]
        print(
            f"\n[{split}] n={o['n']} accuracy {o['accuracy']} macro-F1 {o['macro_f1']} "
            f"top-3 {o['top3']} | routed automatically {o['coverage']} at precision "
            f"{o['precision_routed']} | close calls {o['close_calls']} | "
            f"{report['ms_per_text']} ms/text"
        )
        for group in ("per_language", "per_source"):
            for name, row in report[group].items():
                print(
                    f"  {name:16s} n={row['n']:4d} acc {row['accuracy']:.3f} F1 {row['macro_f1']:.3f} "
                    f"top-3 {row['top3']:.3f} coverage {row['coverage']:.3f} "
                    f"precision {row['precision_routed']}"
                )
        for name, row in report["per_label"].items():
            print(f"  {name:22s} n={row['n']:4d} recall {row['recall']:.3f}")
        cm = report["confusion_matrix"]
        short = [label[:7] for label in cm["labels"]]
        print("  confusion (rows truth, columns predicted):")
        print("  " + " " * 22 + " ".join(f"{s:>7s}" for s in short))
        for label, row in zip(cm["labels"], cm["matrix"], strict=True):
            print(f"  {label:22s}" + " ".join(f"{v:7d}" for v in row))


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DEFAULT_DATASETS)
    parser.add_argument("--split", choices=("check", "tune", "all"), default="check")
    parser.add_argument("--models", type=Path, help="use this registry's champion case model")
    parser.add_argument(
        "--no-encoder",
        action="store_true",
        help="serve the model's TF-IDF head alone, as TRIAGE_CASE_ENCODER=off does",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    try:
        frame = load_realdev(args.datasets)
    except FileNotFoundError as exc:
        print(f"skipped: {exc} (the real texts are not in the repository)")
        return 0
    router, origin, train_seconds = build_router(args.models)
    if args.no_encoder:
        router.model.use_encoder(False)
        origin += ", encoder off"
    splits = ("tune", "check") if args.split == "all" else (args.split,)
    result = {
        "machine": machine(),
        "model": origin,
        "version": router.version,
        "train_seconds": round(train_seconds, 1),
        "splits": {s: evaluate(router, frame[frame["split"] == s]) for s in splits},
    }
    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
    else:
        print_report(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
