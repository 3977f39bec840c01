"""The OpenAPI fragment of the feedback resource (api/views/feedback.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import NO_NUL, error_responses, json_body, json_response, ref
from triage.config import Settings
from triage.taxonomy import load_taxonomy

__all__ = ["openapi"]


def openapi(settings: Settings) -> dict[str, Any]:
    feedback = {
        "type": "object",
        "required": ["id", "prediction_id", "category", "note", "created_at"],
        "properties": {
            "id": {"type": "string"},
            "prediction_id": {"type": "string"},
            "category": {"type": "string"},
            "note": {"type": ["string", "null"]},
            "created_at": {"type": "string", "format": "date-time"},
        },
    }
    return {
        "paths": {
            "/v1/feedback": {
                "post": {
                    "operationId": "createFeedback",
                    "tags": ["feedback"],
                    "summary": "Correct the category of a logged prediction.",
                    "x-required-role": "analyst",
                    "security": [{"bearer": []}, {"apiKey": []}],
                    "requestBody": json_body(
                        ref("FeedbackInput"),
                        example={
                            "prediction_id": "0b8e4c9e-7f43-4c55-9d1e-2f6d3f0f9a11",
                            "category": "not_received",
                            "note": "buyer says the parcel never arrived",
                        },
                    ),
                    "responses": {
                        "201": json_response(ref("FeedbackCreated"), "Recorded."),
                        **error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "FeedbackInput": {
                    "type": "object",
                    "required": ["prediction_id", "category"],
                    "additionalProperties": False,
                    "properties": {
                        "prediction_id": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 64,
                            **NO_NUL,
                        },
                        "category": {
                            "type": "string",
                            "enum": load_taxonomy(settings.taxonomy_path).ids,
                            "description": "The right category: an id of GET /v1/taxonomy "
                            "(422 invalid_value otherwise).",
                        },
                        "note": {"type": ["string", "null"], "maxLength": 2000, **NO_NUL},
                    },
                },
                "Feedback": feedback,
                "FeedbackCreated": {
                    "allOf": [ref("Feedback")],
                    "type": "object",
                    "required": ["predicted_category"],
                    "properties": {"predicted_category": {"type": "string"}},
                },
            }
        },
    }
