"""The monitoring page (``/console/monitoring``, analyst): drift of the prediction log over
time (category mix, language mix, confidence) against the champion's training data, the same
report as ``GET /v1/monitoring`` (triage.jobs.monitor.case_drift)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from api.console.access import needs_role
from api.console.blueprint import blueprint, page
from api.console.charts import drift_chart, svg_data_url
from api.errors import ApiError
from api.runtime import runtime
from api.schemas.monitoring import MAX_DAYS, PERIODS
from triage.errors import ModelError
from triage.jobs.monitor import case_drift
from triage.registry import read_metadata


@blueprint.get("/monitoring")
@needs_role("analyst")
def monitoring_page() -> ResponseReturnValue:
    """Drift signals of the last `days` of predictions, per `period`."""
    try:
        days = int(request.args.get("days", 28))
    except ValueError:
        raise ApiError(422, "invalid_value", "days: a whole number") from None
    if not 1 <= days <= MAX_DAYS:
        raise ApiError(422, "invalid_value", f"days: between 1 and {MAX_DAYS}")
    period = request.args.get("period", "W")
    if period not in PERIODS:
        raise ApiError(422, "invalid_value", f"period: one of {', '.join(PERIODS)}")
    state = runtime()
    report = problem = chart = None
    reference: dict = {}
    try:
        report = case_drift(state.settings, days=days, period=period, store=state.store)
        registry = state.models.registry
        version = report["model"]["version"]
        reference = read_metadata(registry.path(report["model"]["name"], version))["reference"]
        svg = drift_chart(report["periods"], f"cases@{report['model']['version']}")
        chart = svg_data_url(svg) if svg is not None else None
    except ModelError as exc:  # no champion, or one trained before reference profiles
        problem = str(exc)
    return page(
        "monitoring.html",
        report=report,
        problem=problem,
        chart=chart,
        days=days,
        period=period,
        periods=PERIODS,
        reference=reference,
    )
