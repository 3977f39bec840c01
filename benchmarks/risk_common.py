"""Shared by the risk benchmarks: machine description, one-core limits, model comparison, tables."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.orders.risk.report import COLUMNS  # noqa: E402
from triage.orders.risk.training import evaluate_risk, fit_risk_model  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        memory = f", {kb / 1024**2:.0f} GB"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores{memory}, {cpu}, Python {platform.python_version()}"


DATASETS = ROOT.parent / "shared" / "datasets"


def olist_folder(datasets: Path) -> Path | None:
    """The Olist folder under `datasets`, or None after saying why the benchmark skips."""
    folder = datasets / "olist"
    if (folder / "orders.csv").is_file():
        return folder
    print(f"skipped: Olist data not found at {folder} (../shared/datasets is optional)")
    return None


def one_core():
    """Context manager limiting BLAS/OpenMP pools to one thread (the scoring target is per core)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1)


def compare(dataset, train, test, *, target_precision: float = 0.6) -> tuple[dict, dict]:
    """Fit the gradient-boosted model and the logistic baseline on `train`, report on `test`.

    Returns the metrics and the fitted models, both keyed "hgb" and "logistic".
    """
    results, models = {}, {}
    for kind in ("hgb", "logistic"):
        start = time.perf_counter()
        model = fit_risk_model(dataset, train, kind=kind, target_precision=target_precision)
        seconds = time.perf_counter() - start
        metrics, _ = evaluate_risk(model, dataset, test)
        metrics["train_seconds"] = round(seconds, 1)
        metrics["chosen_params"] = getattr(model, "chosen_params_", None)
        metrics["target"] = getattr(model, "target_", None)  # what RiskModel's boosters learned
        results[kind] = metrics
        models[kind] = model
    return results, models


def markdown(results: dict) -> str:
    """Side-by-side table: one row per decision point and model, then the policy lines."""
    names = {"hgb": "gradient boosting (calibrated)", "logistic": "logistic baseline"}
    lines = [
        "| decision point | model | ROC AUC | PR AUC | Brier | precision top 10 % | recall top 10 % | snapshots | late rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    points = list(next(iter(results.values()))["decision_points"])
    for point in points:
        for kind, metrics in results.items():
            row = metrics["decision_points"][point]
            lines.append(
                f"| {point} | {names[kind]} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |"
            )
    lines += [
        "",
        "| suggestion policy | threshold | suggestions | precision | recall | median lead time (days) |",
        "|---|---|---|---|---|---|",
    ]
    for kind, metrics in results.items():
        p = metrics["policy"]
        lines.append(
            f"| {names[kind]} | {p['threshold']} | {p['suggestions']} | {p['precision']} | {p['recall']} | {p['median_lead_days']} |"
        )
    return "\n".join(lines)
