"""The report of a risk retraining run: Markdown, metrics per decision point and reliability plots.

`plot_reliability_by_point` and `reliability_bins` also serve analysts (notebooks/delay_risk.ipynb):

    >>> plot_reliability_by_point(y, points, {"model": proba}, "reliability.png")  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage.evaluation import _pyplot  # the one place that configures matplotlib
from triage.jobs.outcome import gate_lines, write_result
from triage.orders.snapshots import DECISION_POINTS

if TYPE_CHECKING:
    from triage.jobs.retrain_risk import RiskRetrainResult

__all__ = [
    "plot_metrics_by_point",
    "plot_reliability_by_point",
    "reliability_bins",
    "write_risk_report",
]

ROLES = ("champion", "challenger")
PLOTTED = (("roc_auc", "ROC AUC"), ("pr_auc", "PR AUC"), ("brier", "Brier (lower is better)"))


def reliability_bins(proba: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per risk bin of equal width: mean predicted risk, observed late rate, snapshots."""
    proba = np.asarray(proba, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(proba, edges[1:-1], right=True), 0, bins - 1)
    frame = pd.DataFrame({"bin": index, "risk": proba, "late": np.asarray(y, dtype=float)})
    out = frame.groupby("bin").agg(
        mean_risk=("risk", "mean"), late_rate=("late", "mean"), snapshots=("late", "size")
    )
    out.index = [f"{edges[b]:.1f}-{edges[b + 1]:.1f}" for b in out.index]
    return out


def plot_reliability_by_point(
    y: np.ndarray,
    points: np.ndarray,
    probas: dict[str, np.ndarray],
    path: str | Path,
    bins: int = 10,
) -> Path:
    """One reliability diagram per decision point, a curve per model in `probas`."""
    plt = _pyplot()
    points = np.asarray(points, dtype=object)
    present = [p for p in DECISION_POINTS if (points == p).any()]
    fig, axes = plt.subplots(1, len(present), figsize=(4.2 * len(present), 4.2), squeeze=False)
    for ax, point in zip(axes[0], present, strict=True):
        chosen = points == point
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
        for label, proba in probas.items():
            table = reliability_bins(proba[chosen], y[chosen], bins)
            brier = float(np.mean((proba[chosen] - y[chosen]) ** 2))
            ax.plot(
                table["mean_risk"],
                table["late_rate"],
                marker="o",
                label=f"{label} (Brier {brier:.3f})",
            )
        ax.set_title(f"{point} ({int(chosen.sum())} snapshots)")
        ax.set_xlabel("predicted risk")
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.legend(loc="upper left", fontsize=8)
    axes[0][0].set_ylabel("observed late rate")
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_metrics_by_point(metrics: dict[str, dict | None], path: str | Path) -> Path:
    """Bars of ROC AUC, PR AUC and Brier per decision point, one bar per model in `metrics`."""
    plt = _pyplot()
    shown = {label: m for label, m in metrics.items() if m is not None}
    points = [p for p in DECISION_POINTS if any(p in m["decision_points"] for m in shown.values())]
    x = np.arange(len(points))
    width = 0.8 / max(len(shown), 1)
    fig, axes = plt.subplots(1, len(PLOTTED), figsize=(4.2 * len(PLOTTED), 3.8))
    for ax, (key, title) in zip(axes, PLOTTED, strict=True):
        for i, (label, m) in enumerate(shown.items()):
            values = [m["decision_points"].get(p, {}).get(key) for p in points]
            values = [np.nan if v is None else v for v in values]
            offset = (i - (len(shown) - 1) / 2) * width
            bars = ax.bar(x + offset, values, width, label=label)
            ax.bar_label(bars, fmt="%.3f", fontsize=7)
        ax.set_xticks(x, points)
        ax.set_title(title)
    axes[0].legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _point_rows(result: RiskRetrainResult) -> list[str]:
    old = (result.champion_metrics or {}).get("decision_points", {})
    lines = [
        "| decision point | ROC AUC champion | ROC AUC challenger | PR AUC champion | PR AUC challenger "
        "| Brier champion | Brier challenger | snapshots | late rate |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for point, new in result.challenger_metrics["decision_points"].items():
        before = old.get(point, {})
        cells = [
            before.get("roc_auc", "-"),
            new["roc_auc"],
            before.get("pr_auc", "-"),
            new["pr_auc"],
            before.get("brier", "-"),
            new["brier"],
            new["snapshots"],
            new["late_rate"],
        ]
        lines.append(f"| {point} | " + " | ".join(str(c) for c in cells) + " |")
    return lines


def _policy_rows(result: RiskRetrainResult) -> list[str]:
    lines = [
        "| model | threshold | suggestions | precision | recall | median lead time (days) |",
        "|---|---|---|---|---|---|",
    ]
    for role, metrics in (
        ("champion", result.champion_metrics),
        ("challenger", result.challenger_metrics),
    ):
        if metrics is None:
            continue
        p = metrics["policy"]
        lines.append(
            f"| {role} | {p['threshold']} | {p['suggestions']} | {p['precision']} | {p['recall']} "
            f"| {p['median_lead_days']} |"
        )
    return lines


def write_risk_report(
    result: RiskRetrainResult, y: np.ndarray, points: np.ndarray, probas: dict[str, np.ndarray]
) -> Path:
    """report.md, metrics.png, reliability.png and result.json in ``result.report_dir``."""
    folder = result.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    ordered = {role: probas[role] for role in ROLES if role in probas}
    plot_metrics_by_point(
        {"champion": result.champion_metrics, "challenger": result.challenger_metrics},
        folder / "metrics.png",
    )
    plot_reliability_by_point(y, points, ordered, folder / "reliability.png")
    train, hold = result.training, result.holdout
    lines = [
        "# Retraining report: delay risk",
        "",
        result.summary(),
        "",
        f"Champion {result.champion_version or '(none)'}, challenger "
        f"{result.challenger_version or '(dry run, not registered)'}.",
        "",
        f"- data: {result.source}",
        f"- training: {train['orders']} orders purchased {train['from']} to {train['until']} "
        f"({train['snapshots']} snapshots, {train['late_orders']} late orders)",
        f"- holdout: {hold['orders']} orders purchased from {hold['start']} (first {hold['from']}, "
        f"last {hold['until']}; {hold['snapshots']} snapshots, {hold['late_orders']} late orders); "
        "neither model is refitted on it",
        *[f"- note: {note}" for note in result.notes],
        "",
        "## Gate",
        "",
        *gate_lines(result.decision),
        "",
        "## Per decision point on the holdout",
        "",
        *_point_rows(result),
        "",
        "## Suggestion policy replayed over the holdout",
        "",
        "Each model with its own threshold; one suggestion per order at its first crossing; lead "
        "time = days from the suggestion to the end of the promised day, late orders only.",
        "",
        *_policy_rows(result),
        "",
        "## Plots",
        "",
        "![Metrics per decision point](metrics.png)",
        "",
        "![Reliability per decision point](reliability.png)",
        "",
    ]
    path = folder / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    write_result(folder, result.to_dict())
    return path
