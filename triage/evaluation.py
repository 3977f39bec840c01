"""Metrics and reports of the case classifier: accuracy, macro-F1, calibration, coverage, slices."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from triage.cases.calibration import expected_calibration_error

__all__ = [
    "evaluate_case_predictions",
    "plot_confusion_matrix",
    "plot_reliability",
    "pyplot",
    "write_case_report",
]


def _round(value: float, digits: int = 4) -> float | None:
    return None if value is None or np.isnan(value) else round(float(value), digits)


def evaluate_case_predictions(
    y_true: Sequence[str],
    proba: np.ndarray,
    classes: Sequence[str],
    thresholds: np.ndarray,
    *,
    languages: Sequence[str] | None = None,
    target_precision: float = 0.9,
    needs_review: np.ndarray | None = None,
) -> dict:
    """All figures of one evaluation, as a JSON-ready dict.

    `coverage_at_precision` is the share of cases whose confidence passes its class threshold
    (thresholds chosen on training data for `target_precision`), or the share not flagged in
    `needs_review` when the model's guard gave its flags; `precision_when_covered` is the
    precision those cases actually reach here.
    """
    classes = np.asarray(classes)
    y_true = np.asarray([str(v) for v in y_true])
    pred_index = proba.argmax(axis=1)
    y_pred = classes[pred_index]
    confidence = proba.max(axis=1)
    correct = y_pred == y_true
    if needs_review is None:
        covered = confidence >= thresholds[pred_index]
    else:
        covered = ~np.asarray(needs_review, dtype=bool)
    labels = sorted(set(classes) | set(y_true))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0
    )
    result = {
        "n": int(len(y_true)),
        "accuracy": _round(accuracy_score(y_true, y_pred)),
        # macro-F1 over the classes present in the data: a class the data never holds would
        # count as F1 0 and say nothing about the model
        "macro_f1": _round(
            f1_score(y_true, y_pred, labels=sorted(set(y_true)), average="macro", zero_division=0)
        ),
        "ece": _round(expected_calibration_error(confidence, correct)),
        "target_precision": target_precision,
        "coverage_at_precision": _round(covered.mean()),
        "precision_when_covered": _round(correct[covered].mean()) if covered.any() else None,
        "unknown_labels": sorted(set(y_true) - set(classes)),
        "per_class": {
            label: {
                "precision": _round(p),
                "recall": _round(r),
                "f1": _round(f),
                "support": int(s),
            }
            for label, p, r, f, s in zip(labels, precision, recall, f1, support, strict=True)
        },
        "confusion_matrix": {
            "labels": labels,
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
    if languages is not None:
        languages = np.asarray(languages)
        slices = {}
        for language in sorted(set(languages)):
            mask = languages == language
            slices[str(language)] = {
                "n": int(mask.sum()),
                "accuracy": _round(correct[mask].mean()),
                "macro_f1": _round(
                    f1_score(
                        y_true[mask],
                        y_pred[mask],
                        labels=sorted(set(y_true[mask])),
                        average="macro",
                        zero_division=0,
                    )
                ),
                "ece": _round(expected_calibration_error(confidence[mask], correct[mask])),
                "coverage_at_precision": _round(covered[mask].mean()),
            }
        result["per_language"] = slices
    return result


def pyplot():
    """matplotlib.pyplot on the Agg backend: the one place that configures matplotlib."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


def _save(fig, path: str | Path) -> Path:
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    pyplot().close(fig)
    return path


def plot_confusion_matrix(metrics: dict, path: str | Path, title: str = "Confusion matrix") -> Path:
    """A row-normalized confusion-matrix heat map with counts, saved as PNG."""
    plt = pyplot()
    labels = metrics["confusion_matrix"]["labels"]
    counts = np.asarray(metrics["confusion_matrix"]["matrix"], dtype=float)
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1)
    size = max(5.0, 0.55 * len(labels) + 2)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(rates, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(labels)), labels, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(len(labels)), labels, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    if len(labels) <= 30:
        for i in range(len(labels)):
            for j in range(len(labels)):
                if counts[i, j]:
                    color = "white" if rates[i, j] > 0.5 else "black"
                    ax.text(
                        j, i, int(counts[i, j]), ha="center", va="center", fontsize=7, color=color
                    )
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true class")
    ax.set_title(title)
    return _save(fig, path)


def plot_reliability(
    confidence: np.ndarray, correct: np.ndarray, path: str | Path, bins: int = 10, title: str = ""
) -> Path:
    """Reliability diagram: accuracy per confidence bin against the diagonal, with bin counts."""
    plt = pyplot()
    confidence = np.asarray(confidence, dtype=float)
    correct = np.asarray(correct, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    centers, accuracy, counts = [], [], []
    for b in range(bins):
        mask = index == b
        if mask.any():
            centers.append(confidence[mask].mean())
            accuracy.append(correct[mask].mean())
            counts.append(int(mask.sum()))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(5, 6), height_ratios=[3, 1], sharex=True)
    top.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    top.plot(centers, accuracy, marker="o", label="model")
    top.set_ylabel("accuracy")
    ece = expected_calibration_error(confidence, correct)
    top.set_title(title or f"Reliability (ECE {ece:.3f})")
    top.legend(loc="upper left")
    bottom.bar(centers, counts, width=0.8 / bins)
    bottom.set_xlabel("confidence")
    bottom.set_ylabel("cases")
    return _save(fig, path)


def write_case_report(
    metrics: dict, directory: str | Path, *, title: str, notes: Sequence[str] = ()
) -> Path:
    """report.md with the headline figures, per-class and per-language tables and plot links."""
    directory = Path(directory)
    lines = [f"# {title}", ""]
    lines += list(notes) + ([""] if notes else [])
    lines += [
        "| n | accuracy | macro-F1 | ECE | coverage at precision | precision when covered |",
        "|---|---|---|---|---|---|",
        f"| {metrics['n']} | {metrics['accuracy']} | {metrics['macro_f1']} | {metrics['ece']} | "
        f"{metrics['coverage_at_precision']} (target {metrics['target_precision']}) | "
        f"{metrics['precision_when_covered']} |",
        "",
        "## Per class",
        "",
        "| class | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for label, row in metrics["per_class"].items():
        lines.append(
            f"| {label} | {row['precision']} | {row['recall']} | {row['f1']} | {row['support']} |"
        )
    if "per_language" in metrics:
        lines += [
            "",
            "## Per language",
            "",
            "| language | n | accuracy | macro-F1 | ECE | coverage |",
            "|---|---|---|---|---|---|",
        ]
        for language, row in metrics["per_language"].items():
            lines.append(
                f"| {language} | {row['n']} | {row['accuracy']} | {row['macro_f1']} | {row['ece']} | "
                f"{row['coverage_at_precision']} |"
            )
    for name, caption in (
        ("confusion_matrix.png", "Confusion matrix"),
        ("reliability.png", "Reliability"),
    ):
        if (directory / name).exists():
            lines += ["", f"![{caption}]({name})"]
    path = directory / "report.md"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path
