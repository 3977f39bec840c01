"""Case classifier vs two peers on public datasets, side by side in one run.

    .venv/bin/python benchmarks/cases_public.py                       # every dataset, 3 systems
    .venv/bin/python benchmarks/cases_public.py --embeddings          # + ours with embeddings
    .venv/bin/python benchmarks/cases_public.py --datasets banking77 --json out.json

For each dataset and system: accuracy and macro-F1 on data the model did not train on, training
time (wall clock, this machine's cores), and predict time per text: the median of single-text
calls in process after a warm-up call. Cross-validated datasets report the mean over folds (and
the standard deviation of accuracy); their predict time is measured on the last fold's model.

Skips with a message (exit 0) when ../shared/datasets is absent. Results go into
docs/BENCHMARKS.md by hand, with the command and the machine.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score
from sklearn.model_selection import StratifiedKFold
from tqdm import tqdm

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cases_data import LOADERS, Benchmark, datasets_dir, load  # noqa: E402
from cases_systems import SYSTEMS, fasttext_available  # noqa: E402


def machine() -> dict:
    """Cores, CPU model and memory of this machine."""
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
        memory = f"{pages / 2**30:.0f} GiB"
    except (OSError, ValueError):
        memory = "?"
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "memory": memory,
        "python": platform.python_version(),
        # the cores may be shared: the load at the start says how busy they were
        "loadavg_1_5_15": [round(x, 2) for x in os.getloadavg()],
    }


def predict_latency_ms(system, texts: list[str], n: int) -> float:
    """Median wall time of `system.predict_one` over up to `n` texts, after a warm-up call."""
    system.predict_one(texts[0])
    times = []
    for text in texts[:n]:
        start = time.perf_counter()
        system.predict_one(text)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000.0


def run_split(key: str, seed: int, train_x, train_y, test_x, test_y, latency_n: int) -> dict:
    system = SYSTEMS[key](seed=seed)
    start = time.perf_counter()
    system.fit(train_x, train_y)
    train_s = time.perf_counter() - start
    predicted = system.predict(test_x)
    truth = np.asarray(test_y)
    return {
        "accuracy": float((predicted == truth).mean()),
        "macro_f1": float(f1_score(truth, predicted, average="macro")),
        "train_s": train_s,
        "predict_ms": predict_latency_ms(system, list(test_x), latency_n) if latency_n else None,
    }


def run_benchmark(bench: Benchmark, key: str, seed: int, latency_n: int) -> dict:
    if not bench.folds:
        row = run_split(
            key,
            seed,
            bench.train_texts,
            bench.train_labels,
            bench.test_texts,
            bench.test_labels,
            latency_n,
        )
        row.update(n_train=len(bench.train_texts), n_test=len(bench.test_texts))
        return row
    texts = np.asarray(bench.train_texts, dtype=object)
    labels = np.asarray(bench.train_labels, dtype=object)
    splitter = StratifiedKFold(n_splits=bench.folds, shuffle=True, random_state=seed)
    folds = []
    splits = list(splitter.split(texts, labels))
    for k, (train, test) in enumerate(tqdm(splits, desc=f"  {key} folds", leave=False)):
        last = k == len(splits) - 1
        folds.append(
            run_split(
                key,
                seed,
                texts[train].tolist(),
                labels[train].tolist(),
                texts[test].tolist(),
                labels[test].tolist(),
                latency_n if last else 0,
            )
        )
    accuracies = [f["accuracy"] for f in folds]
    return {
        "accuracy": float(np.mean(accuracies)),
        "accuracy_std": float(np.std(accuracies)),
        "macro_f1": float(np.mean([f["macro_f1"] for f in folds])),
        "train_s": float(np.mean([f["train_s"] for f in folds])),
        "predict_ms": folds[-1]["predict_ms"],
        "folds": folds,
        "n_train": len(splits[0][0]),
        "n_test": len(splits[0][1]),
    }


def table(results: list[dict]) -> str:
    lines = [
        "| dataset | system | accuracy | macro-F1 | train s | predict ms/text (median) |",
        "|---|---|---|---|---|---|",
    ]
    for r in results:
        acc = f"{r['accuracy']:.4f}"
        if "accuracy_std" in r:
            acc += f" ± {r['accuracy_std']:.4f}"
        lines.append(
            f"| {r['dataset']} | {r['system']} | {acc} | {r['macro_f1']:.4f} | "
            f"{r['train_s']:.1f} | {r['predict_ms']:.3f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--datasets",
        default="massive,massive_tw,banking77,bitext",
        help=f"comma-separated, of {', '.join(LOADERS)}",
    )
    parser.add_argument("--systems", default="ours,plain,fasttext", help=f"of {', '.join(SYSTEMS)}")
    parser.add_argument("--embeddings", action="store_true", help="add ours_embeddings")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--latency-texts", type=int, default=300, help="texts timed one by one")
    parser.add_argument("--json", type=Path, help="also write every number to this JSON file")
    args = parser.parse_args(argv)

    root = datasets_dir()
    if not root.is_dir():
        print(f"skipped: benchmark data not found at {root} (../shared/datasets is optional)")
        return 0
    datasets = [d.strip() for d in args.datasets.split(",") if d.strip()]
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    if args.embeddings and "ours_embeddings" not in systems:
        systems.insert(1, "ours_embeddings")
    unknown = [d for d in datasets if d not in LOADERS] + [s for s in systems if s not in SYSTEMS]
    if unknown:
        parser.error(f"unknown dataset or system: {', '.join(unknown)}")
    if "fasttext" in systems and not fasttext_available():
        print("note: fastText is not installed (pip install -e '.[bench]'); it is left out")
        systems.remove("fasttext")
    if "ours_embeddings" in systems:
        from triage.cases.embeddings import embeddings_available

        if not embeddings_available():
            print("note: the [embeddings] extra is not installed; ours_embeddings is left out")
            systems.remove("ours_embeddings")

    info = machine()
    started = datetime.now(UTC)
    print(f"machine: {info}; started {started:%Y-%m-%d %H:%M} UTC", flush=True)
    results = []
    for key in datasets:
        bench = load(key, root)
        print(f"{bench.name}: {bench.protocol}", flush=True)
        for system in systems:
            row = run_benchmark(bench, system, args.seed, args.latency_texts)
            row.update(dataset=bench.name, protocol=bench.protocol, system=SYSTEMS[system].name)
            results.append(row)
            print(
                f"  {row['system']}: accuracy {row['accuracy']:.4f}, macro-F1 {row['macro_f1']:.4f}, "
                f"train {row['train_s']:.1f} s, predict {row['predict_ms']:.3f} ms",
                flush=True,
            )
    ended = [round(x, 2) for x in os.getloadavg()]
    print(f"\nload average at the end: {ended}")
    print(table(results))
    if args.json:
        payload = {
            "machine": info,
            "loadavg_end": ended,
            "started": started.isoformat(),
            "argv": sys.argv,
            "results": results,
        }
        args.json.write_text(
            json.dumps(payload, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
