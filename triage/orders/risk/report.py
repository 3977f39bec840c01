"""report.md and reliability.png of a risk model directory."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from triage.evaluation import plot_reliability

__all__ = ["metrics_table", "report_writer"]

COLUMNS = (
    "roc_auc",
    "pr_auc",
    "brier",
    "precision_top10",
    "recall_top10",
    "snapshots",
    "late_rate",
)


def metrics_table(metrics: dict, label: str = "") -> list[str]:
    """Markdown rows: one per decision point, then the policy line."""
    lines = [
        f"| {label + ' ' if label else ''}decision point | ROC AUC | PR AUC | Brier | precision top 10 % | recall top 10 % | snapshots | late rate |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for point, row in metrics["decision_points"].items():
        lines.append(f"| {point} | " + " | ".join(str(row[c]) for c in COLUMNS) + " |")
    policy = metrics["policy"]
    lines += [
        "",
        f"Suggestion policy (threshold {policy['threshold']}): {policy['suggestions']} suggestions, "
        f"precision {policy['precision']}, recall {policy['recall']}, median lead time "
        f"{policy['median_lead_days']} days before the promised date ({policy['late_orders']} late "
        f"of {policy['orders']} orders).",
    ]
    return lines


def report_writer(
    metrics: dict, proba: np.ndarray, y: np.ndarray, *, title: str, notes: Sequence[str] = ()
) -> Callable[[Path], None]:
    """A callback writing report.md and reliability.png into a model directory."""

    def write(directory: Path) -> None:
        plot_reliability(
            proba,
            y,
            directory / "reliability.png",
            title="Risk calibration: observed late rate per risk bin",
        )
        lines = [
            f"# {title}",
            "",
            *notes,
            "",
            *metrics_table(metrics),
            "",
            "![Reliability](reliability.png)",
            "",
        ]
        (directory / "report.md").write_text("\n".join(lines), encoding="utf-8")

    return write
