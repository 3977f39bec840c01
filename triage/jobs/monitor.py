"""Drift of the case model's prediction log, for the CLI and GET /v1/monitoring."""

from __future__ import annotations

import datetime as dt

import pandas as pd

from triage.cases.router import CASE_MODEL_NAME
from triage.config import Settings
from triage.errors import ModelError
from triage.monitoring import drift_report
from triage.registry import Registry, read_metadata
from triage.store import Store

__all__ = ["case_drift"]


def case_drift(
    settings: Settings, *, days: int = 28, period: str = "W", store: Store | None = None
) -> dict:
    """Drift report of the last `days` of predictions against the champion's reference profile."""
    registry = Registry(settings.models_dir)
    version = registry.champion(CASE_MODEL_NAME)
    if version is None:
        raise ModelError("no champion case model; train one first (make run does it)")
    metadata = read_metadata(registry.path(CASE_MODEL_NAME, version))
    reference = metadata.get("reference")
    if reference is None:
        raise ModelError(
            f"model cases@{version} has no reference profile; retrain it to monitor drift"
        )
    own = store is None
    store = store or Store.from_settings(settings)
    try:
        since = dt.datetime.now(dt.UTC) - dt.timedelta(days=days)
        rows = store.prediction_profile(since)
    finally:
        if own:
            store.dispose()
    frame = pd.DataFrame(rows, columns=["created_at", "category", "language", "confidence"])
    report = drift_report(reference, frame, period=period)
    report["model"] = {"name": CASE_MODEL_NAME, "version": version}
    report["window"] = {
        "days": days,
        "period": period,
        "since": since.isoformat(timespec="seconds"),
    }
    return report
