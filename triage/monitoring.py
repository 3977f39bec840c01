"""Drift signals from the prediction log: category mix, language mix and confidence over time.

Each signal compares the logged predictions of a period with the reference profile stored in the
model's metadata at training time (out-of-fold predictions on the training data), using the
population stability index: PSI = Σ (a − e) · ln(a / e) over the bins. Usual reading: below 0.1
stable, 0.1 to 0.25 worth watching, above 0.25 a real shift.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pandas as pd

from triage.text.language import LANGUAGES, detect_language

__all__ = ["CONFIDENCE_BINS", "drift_report", "psi", "reference_profile", "status_of"]

CONFIDENCE_BINS = np.linspace(0.0, 1.0, 11)
WATCH, DRIFT = 0.1, 0.25


def _shares(values: Iterable[str], keys: Sequence[str]) -> dict[str, float]:
    # a column is counted as it is: copying 100,000 strings out of it first took most of a
    # drift report's second
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype="object")
    counts = series.value_counts()
    total = max(int(counts.sum()), 1)
    return {k: float(counts.get(k, 0)) / total for k in keys}


def _confidence_shares(confidence: Iterable[float]) -> list[float]:
    values = np.clip(np.asarray(list(confidence), dtype=float), 0.0, 1.0)
    counts, _ = np.histogram(values, bins=CONFIDENCE_BINS)
    return (counts / max(counts.sum(), 1)).round(6).tolist()


def reference_profile(
    texts: Sequence[str],
    predicted: Sequence[str],
    confidence: Sequence[float],
    classes: Sequence[str],
) -> dict:
    """The mixes a model saw at training time, from its out-of-fold predictions."""
    return {
        "n": len(texts),
        "categories": _shares(predicted, [str(c) for c in classes]),
        "languages": _shares((detect_language(t) for t in texts), list(LANGUAGES)),
        "confidence_bins": CONFIDENCE_BINS.round(2).tolist(),
        "confidence": _confidence_shares(confidence),
    }


def psi(expected: Sequence[float], actual: Sequence[float], floor: float = 1e-4) -> float:
    """Population stability index of two distributions over the same bins."""
    e = np.maximum(np.asarray(expected, dtype=float), floor)
    a = np.maximum(np.asarray(actual, dtype=float), floor)
    e, a = e / e.sum(), a / a.sum()
    return float(np.sum((a - e) * np.log(a / e)))


def status_of(value: float | None) -> str:
    if value is None:
        return "no data"
    return "drift" if value > DRIFT else "watch" if value > WATCH else "stable"


def _signals(reference: Mapping, frame: pd.DataFrame) -> dict:
    categories = list(reference["categories"])
    languages = list(reference["languages"])
    actual_categories = _shares(frame["category"], categories)
    actual_languages = _shares(frame["language"], languages)
    out = {
        "n": len(frame),
        "category_psi": round(
            psi(list(reference["categories"].values()), list(actual_categories.values())), 4
        ),
        "language_psi": round(
            psi(list(reference["languages"].values()), list(actual_languages.values())), 4
        ),
        "confidence_psi": round(
            psi(reference["confidence"], _confidence_shares(frame["confidence"])), 4
        ),
        "mean_confidence": round(float(frame["confidence"].mean()), 4),
        "category_mix": {k: round(v, 4) for k, v in actual_categories.items()},
        "language_mix": {k: round(v, 4) for k, v in actual_languages.items()},
    }
    unknown = sorted(set(frame["category"]) - set(categories))
    if unknown:
        out["unknown_categories"] = unknown
    for name in ("category", "language", "confidence"):
        out[f"{name}_status"] = status_of(out[f"{name}_psi"])
    return out


def drift_report(
    reference: Mapping, predictions: pd.DataFrame, *, period: str = "W", min_rows: int = 30
) -> dict:
    """Drift of logged predictions (created_at, category, language, confidence) vs `reference`.

    Returns the whole window's signals and one row per calendar period (``D`` days, ``W``
    weeks, ``M`` months); periods with fewer than `min_rows` predictions get counts only, since
    a PSI over a handful of cases means nothing.
    """
    if predictions.empty:
        return {
            "overall": {"n": 0, "status": "no data"},
            "periods": [],
            "reference_n": reference.get("n"),
        }
    frame = predictions.copy()
    frame["created_at"] = pd.to_datetime(frame["created_at"], utc=True, format="ISO8601")
    overall = _signals(reference, frame)
    periods = []
    for start, group in frame.groupby(
        frame["created_at"].dt.tz_localize(None).dt.to_period(period)
    ):
        row = {"period": str(start), "start": start.start_time.tz_localize("UTC").isoformat()}
        if len(group) >= min_rows:
            row.update(_signals(reference, group))
            row.pop("category_mix")
            row.pop("language_mix")
        else:
            row.update({"n": len(group), "note": f"fewer than {min_rows} predictions"})
        periods.append(row)
    worst = max((overall[f"{k}_psi"] for k in ("category", "language", "confidence")), default=None)
    overall["status"] = status_of(worst)
    return {"overall": overall, "periods": periods, "reference_n": reference.get("n")}
