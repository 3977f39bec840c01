"""The report of a risk retraining run: Markdown, metrics per decision point, reliability and
lead-time plots.

The helpers also serve analysts (notebooks/delay_risk.ipynb)::

    >>> plot_reliability_by_point(y, points, {"model": proba}, "reliability.png")  # doctest: +SKIP
    >>> lead_times(dataset, test, proba, model.threshold_)   # one row per suggested order  # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from triage.evaluation import pyplot  # the one place that configures matplotlib
from triage.jobs.outcome import gate_lines, write_result
from triage.orders.risk.snapshots import DAY, DECISION_POINTS, promise_end, seconds
from triage.orders.risk.training import RiskDataset

if TYPE_CHECKING:
    from triage.jobs.retrain_risk import RiskRetrainResult

__all__ = [
    "lead_times",
    "plot_lead_times",
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


def lead_times(
    dataset: RiskDataset, mask: np.ndarray, proba: np.ndarray, threshold: float
) -> pd.DataFrame:
    """The suggestion policy replayed over the snapshots in `mask`, one row per flagged order.

    Columns: order_id, point and as_of of its first snapshot at or above `threshold`, its risk
    then, late (1/0), and lead_days from that moment to the end of the promised day. The late
    rows' median is `policy_outcomes`' ``median_lead_days``.
    """
    snaps = dataset.snapshots[mask]
    frame = pd.DataFrame(
        {
            "row": snaps["row"].to_numpy(),
            "order_id": snaps["order_id"].to_numpy(),
            "point": snaps["point"].to_numpy(object),
            "as_of": snaps["as_of"].to_numpy(),
            "risk": np.asarray(proba, dtype=float),
            "late": dataset.y[mask],
        }
    )
    flagged = frame[frame["risk"] >= threshold]
    first = flagged.sort_values("as_of", kind="stable").groupby("row", sort=False).head(1)
    ends = promise_end(dataset.orders)[first["row"].to_numpy()]
    first = first.assign(lead_days=(ends - seconds(first["as_of"])) / DAY)
    return first.drop(columns="row").sort_values("as_of", kind="stable").reset_index(drop=True)


def plot_lead_times(tables: dict[str, pd.DataFrame], path: str | Path) -> Path:
    """Histogram of the lead time of late orders' first suggestion, one series per model."""
    plt = pyplot()
    late = {label: t.loc[t["late"] == 1, "lead_days"].to_numpy() for label, t in tables.items()}
    top = max([np.ceil(v.max()) for v in late.values() if len(v)] + [1.0])
    edges = np.arange(0, top + 1)
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, values in late.items():
        median = f"median {np.median(values):.1f}" if len(values) else "no median"
        ax.hist(
            values,
            bins=edges,
            alpha=0.55,
            label=f"{label} ({len(values)} late orders flagged, {median} days)",
        )
    ax.set_xlabel("days between the suggestion and the end of the promised day")
    ax.set_ylabel("late orders")
    ax.set_title("Lead time of suggestions for orders that turned out late")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_reliability_by_point(
    y: np.ndarray,
    points: np.ndarray,
    probas: dict[str, np.ndarray],
    path: str | Path,
    bins: int = 10,
) -> Path:
    """One reliability diagram per decision point, a curve per model in `probas`."""
    plt = pyplot()
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
    plt = pyplot()
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
    baseline = (result.baseline_metrics or {}).get("decision_points", {})
    lines = [
        "| decision point | ROC AUC champion | ROC AUC challenger | ROC AUC logistic baseline "
        "| PR AUC champion | PR AUC challenger | Brier champion | Brier challenger "
        "| Brier logistic baseline | snapshots | late rate |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for point, new in result.challenger_metrics["decision_points"].items():
        before = old.get(point, {})
        cells = [
            before.get("roc_auc", "-"),
            new["roc_auc"],
            baseline.get(point, {}).get("roc_auc", "-"),
            before.get("pr_auc", "-"),
            new["pr_auc"],
            before.get("brier", "-"),
            new["brier"],
            baseline.get(point, {}).get("brier", "-"),
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
    result: RiskRetrainResult,
    dataset: RiskDataset,
    mask: np.ndarray,
    scored: dict[str, tuple[np.ndarray, float]],
) -> Path:
    """report.md, metrics.png, reliability.png, lead_times.png and result.json in
    ``result.report_dir``; `scored` maps "champion"/"challenger" to (holdout scores, threshold)."""
    folder = result.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    ordered = {role: scored[role] for role in ROLES if role in scored}
    plot_metrics_by_point(
        {
            "champion": result.champion_metrics,
            "challenger": result.challenger_metrics,
            "logistic baseline": result.baseline_metrics,
        },
        folder / "metrics.png",
    )
    points = dataset.snapshots["point"][mask].to_numpy(object)
    probas = {role: proba for role, (proba, _) in ordered.items()}
    plot_reliability_by_point(dataset.y[mask], points, probas, folder / "reliability.png")
    plot_lead_times(
        {role: lead_times(dataset, mask, p, t) for role, (p, t) in ordered.items()},
        folder / "lead_times.png",
    )
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
        "![Lead time of suggestions](lead_times.png)",
        "",
    ]
    path = folder / "report.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    write_result(folder, result.to_dict())
    return path
