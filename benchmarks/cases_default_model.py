"""Default case model: held-out split of the seed corpus and the out-of-corpus proxy.

    .venv/bin/python benchmarks/cases_default_model.py [--datasets ../shared/datasets] [--json]

Trains the default model exactly as `make run` does (train split of data/corpus, seed 0), then
reports on the corpus's fixed held-out split and on public dataset utterances whose intents map
onto our categories (data/proxy_intents.csv). The proxy part is skipped with a message when the
datasets folder is absent.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.cases.training import evaluate_case_model, fit_case_model  # noqa: E402
from triage.corpus import load_corpus  # noqa: E402
from triage.proxy import load_proxy_cases  # noqa: E402


def machine() -> str:
    import os

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{os.cpu_count()} cores, {cpu}, Python {platform.python_version()}"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=ROOT.parent / "shared" / "datasets")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()

    corpus = load_corpus(ROOT / "data" / "corpus")
    train, test = corpus[corpus["split"] == "train"], corpus[corpus["split"] == "test"]
    start = time.perf_counter()
    model = fit_case_model(train["text"].tolist(), train["category"].tolist(), seed=args.seed)
    train_seconds = time.perf_counter() - start
    held_out, _ = evaluate_case_model(
        model, test["text"].tolist(), test["category"].tolist(), test["language"].tolist()
    )
    result = {
        "machine": machine(),
        "train_rows": len(train),
        "train_seconds": round(train_seconds, 1),
        "held_out": held_out,
    }

    if args.datasets.is_dir():
        proxy = load_proxy_cases(args.datasets)
        metrics, proba = evaluate_case_model(
            model, proxy["text"].tolist(), proxy["category"].tolist()
        )
        predicted = model.classes_[proba.argmax(axis=1)]
        correct = predicted == proxy["category"].to_numpy()
        metrics["per_dataset"] = {
            name: {"n": int(mask.sum()), "accuracy": round(float(correct[mask].mean()), 4)}
            for name, mask in (
                (d, (proxy["dataset"] == d).to_numpy()) for d in sorted(proxy["dataset"].unique())
            )
        }
        metrics["per_intent"] = {
            f"{d}:{i}": {
                "category": c,
                "n": int(m.sum()),
                "accuracy": round(float(correct[m].mean()), 4),
                "most_predicted": str(pd_mode(predicted[m])),
            }
            for (d, i, c), m in (
                ((d, i, c), ((proxy["dataset"] == d) & (proxy["intent"] == i)).to_numpy())
                for d, i, c in proxy[["dataset", "intent", "category"]]
                .drop_duplicates()
                .itertuples(index=False)
            )
        }
        metrics.pop("confusion_matrix", None)
        result["proxy"] = metrics
    else:
        result["proxy"] = f"skipped: {args.datasets} not found (the public datasets are optional)"
        print(f"note: {result['proxy']}", file=sys.stderr)

    if args.json:
        print(json.dumps(result, ensure_ascii=False, indent=2))
        return 0
    h = held_out
    print(f"machine: {result['machine']}; trained on {len(train)} rows in {train_seconds:.1f} s")
    print(
        f"held-out (n={h['n']}): accuracy {h['accuracy']}, macro-F1 {h['macro_f1']}, ECE {h['ece']}, "
        f"coverage at precision 0.9: {h['coverage_at_precision']} (precision {h['precision_when_covered']})"
    )
    for language, row in h["per_language"].items():
        print(
            f"  {language:5s} n={row['n']:4d} accuracy {row['accuracy']} macro-F1 {row['macro_f1']} "
            f"ECE {row['ece']} coverage {row['coverage_at_precision']}"
        )
    for label, row in h["per_class"].items():
        print(
            f"  {label:22s} P {row['precision']} R {row['recall']} F1 {row['f1']} n={row['support']}"
        )
    if isinstance(result["proxy"], dict):
        p = result["proxy"]
        print(
            f"proxy (n={p['n']}): accuracy {p['accuracy']}, macro-F1 {p['macro_f1']}, ECE {p['ece']}, "
            f"coverage {p['coverage_at_precision']} (precision {p['precision_when_covered']})"
        )
        for name, row in p["per_dataset"].items():
            print(f"  {name:10s} n={row['n']} accuracy {row['accuracy']}")
        for name, row in p["per_intent"].items():
            print(
                f"  {name:45s} -> {row['category']:20s} n={row['n']:4d} accuracy {row['accuracy']:.3f}"
                f"  (most predicted: {row['most_predicted']})"
            )
    return 0


def pd_mode(values: np.ndarray) -> str:
    labels, counts = np.unique(values, return_counts=True)
    return labels[counts.argmax()]


if __name__ == "__main__":
    raise SystemExit(main())
