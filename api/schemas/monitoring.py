"""The OpenAPI fragment of the monitoring resource (api/views/monitoring.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import error_responses, json_response, ref
from triage.config import Settings
from triage.monitoring import DRIFT, WATCH

__all__ = ["openapi"]

PERIODS = ("D", "W", "M")
MAX_DAYS = 366


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
