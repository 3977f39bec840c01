"""``triage retrain cases``: train a challenger on corpus + history + corrections, gate, promote.

Exit status for schedulers: 0 promoted, 3 rejected (kept as a rejected version), 1 failed,
2 bad input. A dry run trains and evaluates but registers nothing.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage.cases.router import CASE_MODEL_NAME
from triage.cases.training import evaluate_case_model, fit_case_model, model_metadata, report_writer
from triage.config import Settings
from triage.corpus import load_corpus
from triage.errors import ModelNotFoundError
from triage.evaluation import plot_confusion_matrix, plot_reliability
from triage.jobs.gate import GateDecision, GatePolicy, compare
from triage.jobs.outcome import (
    EXIT_FAILED,
    EXIT_PROMOTED,
    EXIT_REJECTED,
    dry_run_status,
    exit_code,
    gate_lines,
    report_folder,
    settle,
    write_result,
)
from triage.jobs.training_set import MergeReport, build_training_set
from triage.registry import Registry
from triage.taxonomy import load_taxonomy

__all__ = ["EXIT_FAILED", "EXIT_PROMOTED", "EXIT_REJECTED", "RetrainResult", "retrain_cases"]


@dataclass
class RetrainResult:
    """Outcome of one retraining run."""

    status: str  # promoted | rejected | dry-run-promote | dry-run-reject
    decision: GateDecision
    merge: MergeReport
    champion_version: str | None
    challenger_version: str | None
    report_dir: Path
    champion_metrics: dict | None = None
    challenger_metrics: dict = field(default_factory=dict)

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)

    def summary(self) -> str:
        """One line for logs and schedulers."""
        new = self.challenger_metrics
        old = self.champion_metrics or {}
        head = (
            f"retrain cases: {self.status}; challenger {self.challenger_version or '(not registered)'} "
            f"macro-F1 {new.get('macro_f1')} vs champion {self.champion_version or '-'} {old.get('macro_f1', '-')}; "
            f"trained on {self.merge.total} rows incl. {self.merge.corrections_used} corrections"
        )
        return head + (
            f"; rejected because {'; '.join(self.decision.reasons)}"
            if self.decision.reasons
            else ""
        )

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "decision": self.decision.to_dict(),
            "merge": self.merge.to_dict(),
            "report": str(self.report_dir / "report.md"),
            "champion_metrics": self.champion_metrics,
            "challenger_metrics": self.challenger_metrics,
        }


def _plot_per_class(old: dict | None, new: dict, path: Path) -> None:
    from triage.evaluation import pyplot  # the one place that configures matplotlib

    plt = pyplot()
    labels = list(new["per_class"])
    x = np.arange(len(labels))
    fig, ax = plt.subplots(figsize=(max(6, 0.8 * len(labels)), 4))
    if old is not None:
        ax.bar(
            x - 0.2,
            [old["per_class"].get(c, {}).get("f1", 0) for c in labels],
            0.4,
            label="champion",
        )
    ax.bar(
        x + (0.2 if old else 0),
        [new["per_class"][c]["f1"] for c in labels],
        0.4,
        label="challenger",
    )
    ax.set_xticks(x, labels, rotation=45, ha="right", fontsize=8)
    ax.set_ylabel("F1")
    ax.set_ylim(0, 1)
    ax.legend()
    ax.set_title("Per-class F1 on the frozen evaluation set")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _write_report(result: RetrainResult, eval_labels: np.ndarray, probas: dict) -> None:
    folder = result.report_dir
    folder.mkdir(parents=True, exist_ok=True)
    new, old = result.challenger_metrics, result.champion_metrics
    _plot_per_class(old, new, folder / "per_class_f1.png")
    for role, metrics in (("challenger", new), ("champion", old)):
        if metrics is None:
            continue
        plot_confusion_matrix(
            metrics, folder / f"confusion_{role}.png", title=f"Confusion matrix: {role}"
        )
        proba, classes = probas[role]
        predicted = classes[proba.argmax(axis=1)]
        plot_reliability(
            proba.max(axis=1),
            predicted == eval_labels,
            folder / f"reliability_{role}.png",
            title=f"Reliability: {role}",
        )
    lines = [
        "# Retraining report: cases",
        "",
        result.summary(),
        "",
        f"Champion {result.champion_version or '(none)'}, challenger {result.challenger_version or '(dry run)'}.",
        "",
        "## Gate",
        "",
        *gate_lines(result.decision),
    ]
    merge = result.merge
    lines += [
        "",
        "## Training set",
        "",
        f"- corpus rows: {merge.base_rows}, imported history rows: {merge.history_rows}",
        f"- corrections: {merge.corrections} received, {merge.corrections_used} used after "
        f"'latest wins', {merge.overrides} replaced a seed label",
        f"- conflicts: {len(merge.prediction_conflicts)} predictions corrected to different categories, "
        f"{len(merge.text_conflicts)} texts corrected differently",
        f"- unknown categories dropped: {', '.join(merge.unknown_categories) or 'none'}",
        f"- rows removed because they are in the evaluation set: {merge.removed_eval_overlap}",
        f"- total: {merge.total}",
        "",
        "## Plots",
        "",
        "![Per-class F1](per_class_f1.png)",
        "",
    ]
    for role in ("champion", "challenger"):
        if (folder / f"confusion_{role}.png").exists():
            lines += [
                f"![Confusion {role}](confusion_{role}.png) ![Reliability {role}](reliability_{role}.png)",
                "",
            ]
    (folder / "report.md").write_text("\n".join(lines), encoding="utf-8")
    write_result(folder, result.to_dict())


def retrain_cases(
    settings: Settings,
    corrections: pd.DataFrame,
    *,
    history: pd.DataFrame | None = None,
    evaluation: pd.DataFrame | None = None,
    policy: GatePolicy | None = None,
    dry_run: bool = False,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> RetrainResult:
    """Train a challenger, evaluate it and the champion on the frozen set, gate, act, report.

    The frozen evaluation set is the corpus's held-out split, plus `evaluation` rows (text,
    category) when given.
    """
    taxonomy = load_taxonomy(settings.taxonomy_path)
    corpus = load_corpus(settings.corpus_dir, categories=set(taxonomy.ids))
    frozen = corpus[corpus["split"] == "test"][["text", "category", "language"]]
    if evaluation is not None and len(evaluation):
        frozen = pd.concat([frozen, evaluation[["text", "category"]]], ignore_index=True)
    train_rows, merge = build_training_set(
        corpus[corpus["split"] == "train"],
        corrections,
        categories=set(taxonomy.ids),
        history=history,
        evaluation_texts=frozen["text"].tolist(),
    )
    registry = Registry(settings.models_dir)
    try:
        champion = registry.load(CASE_MODEL_NAME)
    except ModelNotFoundError:
        champion = None

    challenger = fit_case_model(
        train_rows["text"].tolist(),
        train_rows["category"].tolist(),
        seed=seed,
        target_precision=settings.target_precision,
        progress=progress,
    )
    from triage.orders.linked import attach_order_stack  # the order-aware part, as bootstrap's

    languages = frozen["language"].tolist() if frozen["language"].notna().all() else None
    # held-out texts are scored up to three times (the order-aware part's fit, the challenger's
    # and the champion's evaluation): their sentence embeddings come from the on-disk cache
    with contextlib.ExitStack() as cached:
        for model in (challenger, getattr(champion, "model", None)):
            if hasattr(model, "cached_embeddings"):  # a CaseClassifier; another kind scores as is
                cached.enter_context(model.cached_embeddings())
        attach_order_stack(
            challenger, corpus[corpus["split"] == "test"], settings.order_cases_dir, seed=seed
        )
        new_metrics, new_proba = evaluate_case_model(
            challenger, frozen["text"].tolist(), frozen["category"].tolist(), languages
        )
        probas = {"challenger": (new_proba, challenger.classes_)}
        old_metrics = None
        if champion is not None:
            old_metrics, old_proba = evaluate_case_model(
                champion.model, frozen["text"].tolist(), frozen["category"].tolist(), languages
            )
            probas["champion"] = (old_proba, champion.model.classes_)
    decision = compare(old_metrics, new_metrics, policy)

    report_dir = report_folder(settings, "cases")
    version = None
    if dry_run:
        status = dry_run_status(decision)
    else:
        correct = challenger.classes_[new_proba.argmax(axis=1)] == frozen["category"].to_numpy()
        metadata = model_metadata(
            challenger,
            train_rows["text"].tolist(),
            train_rows["category"].tolist(),
            metrics={
                "held_out": new_metrics,
                "cross_validation": challenger.cv_metrics_,
                "gate": decision.to_dict(),
            },
            source="retrain: corpus train split + history + corrections",
            seed=seed,
        )
        writer = report_writer(
            new_metrics,
            new_proba.max(axis=1),
            correct,
            title="Retrained case model on the frozen evaluation set",
        )
        status, version = settle(registry, CASE_MODEL_NAME, challenger, metadata, writer, decision)
    result = RetrainResult(
        status=status,
        decision=decision,
        merge=merge,
        champion_version=champion.version if champion else None,
        challenger_version=version,
        report_dir=report_dir,
        champion_metrics=old_metrics,
        challenger_metrics=new_metrics,
    )
    _write_report(result, frozen["category"].to_numpy(), probas)
    return result
