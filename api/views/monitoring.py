"""``GET /v1/monitoring``: drift of the case model's prediction log, for analysts.

The same report as ``triage monitor cases --json`` (triage.jobs.monitor.case_drift): category
mix, language mix and confidence of the logged predictions, over the whole window and per
period, against the champion's training-time profile, as population stability indexes.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.errors import ApiError
from api.openapi import error_responses, json_response, ref
from api.runtime import runtime
from api.validation import query_int
from triage.config import Settings
from triage.errors import ModelError
from triage.jobs.monitor import case_drift
from triage.monitoring import DRIFT, WATCH

__all__ = ["blueprint", "openapi"]

blueprint = Blueprint("monitoring", __name__)

PERIODS = ("D", "W", "M")
MAX_DAYS = 366


@blueprint.get("/v1/monitoring")
@requires("analyst")
def get_monitoring() -> ResponseReturnValue:
    """Drift signals of the last `days` of predictions, grouped by `period`."""
    days = query_int("days", 28, 1, MAX_DAYS)
    period = request.args.get("period", "W")
    if period not in PERIODS:
        raise ApiError(
            422,
            "invalid_value",
            f"period: must be one of {', '.join(PERIODS)} (day, week, month)",
            {"field": "period", "rule": "enum"},
        )
    state = runtime()
    try:
        return case_drift(state.settings, days=days, period=period, store=state.store)
    except ModelError as exc:  # no champion, or one trained before reference profiles existed
        raise ApiError(409, "no_reference_profile", str(exc)) from None


def openapi(settings: Settings) -> dict[str, Any]:
    status = {"enum": ["stable", "watch", "drift", "no data"]}
    psi = {"type": "number", "minimum": 0}
    mix = {"type": "object", "additionalProperties": {"type": "number"}}
    signals = {
        "type": "object",
        "required": ["n"],
        "properties": {
            "n": {"type": "integer", "description": "Predictions in the window or period."},
            "status": {**status, "description": "The worst of the three signals."},
            "category_psi": psi,
            "language_psi": psi,
            "confidence_psi": psi,
            "category_status": status,
            "language_status": status,
            "confidence_status": status,
            "mean_confidence": {"type": "number"},
            "category_mix": mix,
            "language_mix": mix,
            "unknown_categories": {"type": "array", "items": {"type": "string"}},
        },
    }
    period = {
        "allOf": [ref("DriftSignals")],
        "type": "object",
        "required": ["period", "start", "n"],
        "properties": {
            "period": {"type": "string", "examples": ["2026-11-02/2026-11-08"]},
            "start": {"type": "string", "format": "date-time"},
            "note": {"type": "string", "description": "Why a period has counts only."},
        },
    }
    report = {
        "type": "object",
        "required": ["overall", "periods", "reference_n", "model", "window"],
        "properties": {
            "overall": ref("DriftSignals"),
            "periods": {"type": "array", "items": ref("DriftPeriod")},
            "reference_n": {
                "type": ["integer", "null"],
                "description": "Training rows behind the reference profile.",
            },
            "model": ref("ModelRef"),
            "window": {
                "type": "object",
                "required": ["days", "period", "since"],
                "properties": {
                    "days": {"type": "integer"},
                    "period": {"enum": list(PERIODS)},
                    "since": {"type": "string", "format": "date-time"},
                },
            },
        },
    }
    return {
        "paths": {
            "/v1/monitoring": {
                "get": {
                    "operationId": "getMonitoring",
                    "tags": ["monitoring"],
                    "summary": "Drift of the prediction log against the model's training data.",
                    "description": (
                        "Population stability index (PSI) of the category mix, the language "
                        "mix and the confidence histogram of logged predictions versus the "
                        f"champion's training-time profile: below {WATCH} stable, {WATCH} to "
                        f"{DRIFT} watch, above {DRIFT} drift. Periods with fewer than 30 "
                        "predictions get counts only."
                    ),
                    "x-required-role": "analyst",
                    "security": [{"bearer": []}, {"apiKey": []}],
                    "parameters": [
                        {
                            "name": "days",
                            "in": "query",
                            "description": "How far back to read the prediction log.",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_DAYS,
                                "default": 28,
                            },
                        },
                        {
                            "name": "period",
                            "in": "query",
                            "description": "Group by day (D), week (W) or month (M).",
                            "schema": {"enum": list(PERIODS), "default": "W"},
                        },
                    ],
                    "responses": {
                        "200": json_response(ref("DriftReport"), "The drift report."),
                        **error_responses(400, 401, 403, 422, 429, 503),
                        "409": json_response(
                            ref("Error"),
                            "No champion case model, or one without a reference profile "
                            "(`no_reference_profile`): retrain it.",
                        ),
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "DriftSignals": signals,
                "DriftPeriod": period,
                "DriftReport": report,
            }
        },
    }
