"""The retraining set: seed corpus, imported history and analysts' corrections, merged.

Rules, in order:

1. Corrections: for each prediction the latest correction wins. A prediction corrected to
   different categories over time is reported as a conflict (the latest still wins).
2. Two corrections of the same (normalized) text to different categories: the latest wins, the
   disagreement is reported.
3. A corrected text that is also in the corpus or the history with another label replaces that
   row: an analyst's decision on a real case outranks the seed label. Reported as an override.
4. Any text of the frozen evaluation set is removed from training, so the gate compares models
   on data neither trained on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from triage.text.normalize import normalize

__all__ = ["MergeReport", "build_training_set", "latest_corrections"]

CORRECTION_COLUMNS = ("prediction_id", "text", "category", "created_at")


@dataclass
class MergeReport:
    """What the merge did, for the retraining report."""

    base_rows: int = 0
    history_rows: int = 0
    corrections: int = 0
    corrections_used: int = 0
    prediction_conflicts: list[dict] = field(default_factory=list)
    text_conflicts: list[dict] = field(default_factory=list)
    overrides: int = 0
    unknown_categories: list[str] = field(default_factory=list)
    removed_eval_overlap: int = 0
    total: int = 0

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def latest_corrections(corrections: pd.DataFrame, report: MergeReport) -> pd.DataFrame:
    """One row per corrected text: the latest correction, conflicts recorded in `report`."""
    if corrections.empty:
        return pd.DataFrame(columns=["text", "category", "key"])
    frame = corrections.copy()
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True)
    frame = frame.sort_values(["created_at"], kind="stable")
    per_prediction = frame.groupby("prediction_id")["category"].nunique()
    for prediction_id in per_prediction[per_prediction > 1].index:
        rows = frame[frame["prediction_id"] == prediction_id]
        report.prediction_conflicts.append(
            {
                "prediction_id": str(prediction_id),
                "categories": rows["category"].tolist(),
                "kept": rows["category"].iloc[-1],
            }
        )
    frame = frame.drop_duplicates("prediction_id", keep="last")
    frame["key"] = frame["text"].map(normalize)
    per_text = frame.groupby("key")["category"].nunique()
    for key in per_text[per_text > 1].index:
        rows = frame[frame["key"] == key]
        report.text_conflicts.append(
            {
                "text": rows["text"].iloc[-1][:120],
                "categories": rows["category"].tolist(),
                "kept": rows["category"].iloc[-1],
            }
        )
    return frame.drop_duplicates("key", keep="last")[["text", "category", "key"]]


def build_training_set(
    base: pd.DataFrame,
    corrections: pd.DataFrame,
    *,
    categories: set[str],
    history: pd.DataFrame | None = None,
    evaluation_texts: list[str] = (),
) -> tuple[pd.DataFrame, MergeReport]:
    """Rows (text, category, source) to train the challenger on, and the merge report.

    `base` and `history` have columns text and category; `corrections` has prediction_id, text,
    category and created_at.
    """
    report = MergeReport(base_rows=len(base), corrections=len(corrections))
    parts = [base[["text", "category"]].assign(source="corpus")]
    if history is not None and len(history):
        report.history_rows = len(history)
        parts.append(history[["text", "category"]].assign(source="history"))
    rows = pd.concat(parts, ignore_index=True)
    rows["key"] = rows["text"].map(normalize)

    fixed = latest_corrections(corrections, report)
    unknown = sorted(set(fixed["category"]) - categories)
    report.unknown_categories = unknown
    fixed = fixed[fixed["category"].isin(categories)]
    report.corrections_used = len(fixed)

    overridden = rows["key"].isin(set(fixed["key"]))
    report.overrides = int(overridden.sum())
    rows = pd.concat([rows[~overridden], fixed.assign(source="correction")], ignore_index=True)

    held_out = {normalize(t) for t in evaluation_texts}
    overlap = rows["key"].isin(held_out)
    report.removed_eval_overlap = int(overlap.sum())
    rows = rows[~overlap].drop_duplicates("key", keep="last")
    report.total = len(rows)
    return rows[["text", "category", "source"]].reset_index(drop=True), report
