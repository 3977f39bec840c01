"""The OpenAPI fragment of the predictions resource (api/views/predictions.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import error_responses, json_response, ref
from triage.config import Settings

__all__ = ["openapi"]

MAX_PAGE = 1000


def openapi(settings: Settings) -> dict[str, Any]:
    logged = {
        "type": "object",
        "required": [
            "id",
            "created_at",
            "text",
            "language",
            "category",
            "confidence",
            "needs_review",
            "model",
            "role",
            "order_id",
        ],
        "properties": {
            "id": {"type": "string"},
            "created_at": {"type": "string", "format": "date-time"},
            "text": {"type": "string", "description": "Emails and phone numbers redacted."},
            "language": {"type": "string"},
            "category": {"type": "string"},
            "confidence": {"type": "number"},
            "needs_review": {"type": "boolean"},
            "model": ref("ModelRef"),
            "role": {"type": ["string", "null"]},
            "order_id": {"type": ["string", "null"]},
            "feedback": {"type": "array", "items": ref("Feedback")},
        },
    }
    secured = {"x-required-role": "analyst", "security": [{"bearer": []}, {"apiKey": []}]}
    return {
        "paths": {
            "/v1/predictions": {
                "get": {
                    "operationId": "listPredictions",
                    "tags": ["predictions"],
                    "summary": "The prediction log, newest first.",
                    **secured,
                    "parameters": [
                        {
                            "name": "limit",
                            "in": "query",
                            "schema": {
                                "type": "integer",
                                "minimum": 1,
                                "maximum": MAX_PAGE,
                                "default": 100,
                            },
                        },
                        {
                            "name": "before",
                            "in": "query",
                            "description": "Only predictions logged before this time "
                            "(`next_before` of the previous page).",
                            "schema": {"type": "string", "format": "date-time"},
                        },
                    ],
                    "responses": {
                        "200": json_response(
                            {
                                "type": "object",
                                "required": ["predictions", "next_before"],
                                "properties": {
                                    "predictions": {
                                        "type": "array",
                                        "items": ref("LoggedPrediction"),
                                    },
                                    "next_before": {"type": ["string", "null"]},
                                },
                            },
                            "A page of the log.",
                        ),
                        **error_responses(400, 401, 403, 422, 429, 503),
                    },
                }
            },
            "/v1/predictions/{prediction_id}": {
                "get": {
                    "operationId": "getPrediction",
                    "tags": ["predictions"],
                    "summary": "One logged prediction with its feedback.",
                    **secured,
                    "parameters": [
                        {
                            "name": "prediction_id",
                            "in": "path",
                            "required": True,
                            "schema": {"type": "string"},
                        }
                    ],
                    "responses": {
                        "200": json_response(ref("LoggedPrediction"), "The prediction."),
                        **error_responses(401, 403, 404, 429, 503),
                    },
                }
            },
        },
        "components": {"schemas": {"LoggedPrediction": logged}},
    }
