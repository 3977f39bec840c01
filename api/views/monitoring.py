"""``GET /v1/monitoring``: drift of the case model's prediction log, for analysts.

The same report as ``triage monitor cases --json`` (triage.jobs.monitor.case_drift): category
mix, language mix and confidence of the logged predictions, over the whole window and per
period, against the champion's training-time profile, as population stability indexes.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.errors import ApiError
from api.runtime import runtime
from api.schemas.monitoring import MAX_DAYS, PERIODS
from api.validation import query_choice, query_int
from triage.errors import ModelError
from triage.jobs.monitor import case_drift

__all__ = ["blueprint"]

blueprint = Blueprint("monitoring", __name__)
PERIOD_MEANING = " (day, week, month)"


@blueprint.get("/v1/monitoring")
@requires("analyst")
def get_monitoring() -> ResponseReturnValue:
    """Drift signals of the last `days` of predictions, grouped by `period`."""
    days = query_int("days", 28, 1, MAX_DAYS)
    period = query_choice("period", "W", PERIODS, PERIOD_MEANING)
    state = runtime()
    try:
        return case_drift(state.settings, days=days, period=period, store=state.store)
    except ModelError as exc:  # no champion, or one trained before reference profiles existed
        raise ApiError(409, "no_reference_profile", str(exc)) from None
