"""The OpenAPI fragment of the cases resource (api/views/cases.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import NO_NUL, error_responses, json_body, json_response, ref
from triage.config import Settings
from triage.text.language import LANGUAGES

__all__ = ["PREDICTION_FIELDS", "openapi"]

FILER_ROLES = ("buyer", "seller")
#: fields of triage's CasePrediction that the API returns (the view copies them into answers)
PREDICTION_FIELDS = (
    "category",
    "name_zh",
    "name_en",
    "confidence",
    "needs_review",
    "close_call",
    "threshold",
    "language",
    "top",
    "entities",
    "missing_details",
    "explanation",
    "model",
)


def _case_input(settings: Settings) -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["text"],
        "additionalProperties": False,
        "properties": {
            "text": {
                "type": "string",
                "pattern": r"\S",
                **NO_NUL,
                "x-pattern-message": "must not be empty or only whitespace",
                "description": (
                    f"The case description, Chinese, English or mixed; at most "
                    f"{settings.max_text_bytes} bytes in UTF-8 (413 text_too_large above)."
                ),
            },
            "role": {
                "type": ["string", "null"],
                "enum": [*FILER_ROLES, None],
                "description": "Who files the case.",
            },
            "order_id": {"type": ["string", "null"], "minLength": 1, "maxLength": 64, **NO_NUL},
            "lang": {
                "type": ["string", "null"],
                "enum": [*LANGUAGES, None],
                "description": "Force the case's language; detected when absent.",
            },
        },
    }


def openapi(settings: Settings) -> dict[str, Any]:
    named = {"name_zh": {"type": "string"}, "name_en": {"type": "string"}}
    prediction = {
        "type": "object",
        "required": ["prediction_id", *PREDICTION_FIELDS, "order_id", "role", "logged"],
        "additionalProperties": False,
        "properties": {
            "prediction_id": {
                "type": "string",
                "format": "uuid",
                "description": "Give it to POST /v1/feedback to correct this prediction.",
            },
            "category": {"type": "string", "description": "Category id of the taxonomy."},
            **named,
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "needs_review": {
                "type": "boolean",
                "description": "True when a person should check the category before it is "
                "acted on: the confidence is under the category's threshold (or the model's "
                "floor), or the text is unlike anything the model was trained on.",
            },
            "close_call": {
                "type": "boolean",
                "description": "True when the top two categories are close: the message may "
                "hold several problems; both are in `top`.",
            },
            "threshold": {"type": "number", "minimum": 0, "maximum": 1},
            "language": {"enum": list(LANGUAGES)},
            "top": {
                "type": "array",
                "maxItems": 3,
                "items": {
                    "type": "object",
                    "required": ["category", "name_zh", "name_en", "confidence"],
                    "properties": {
                        "category": {"type": "string"},
                        **named,
                        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    },
                },
            },
            "entities": {"type": "array", "items": ref("Entity")},
            "missing_details": {
                "type": "array",
                "description": "Details the filer still has to give, in the case's language.",
                "items": {
                    "type": "object",
                    "required": ["id", "name", "prompt"],
                    "properties": {
                        "id": {"type": "string"},
                        "name": {"type": "string"},
                        "prompt": {"type": "string"},
                    },
                },
            },
            "explanation": {
                "type": "array",
                "description": "Terms that drove the decision, strongest first.",
                "items": {
                    "type": "object",
                    "required": ["term", "weight"],
                    "properties": {"term": {"type": "string"}, "weight": {"type": "number"}},
                },
            },
            "model": ref("ModelRef"),
            "order_id": {"type": ["string", "null"]},
            "role": {"type": ["string", "null"]},
            "logged": {
                "type": "boolean",
                "description": "False only when the database was down and the service is "
                "configured to answer anyway (TRIAGE_LOG_WITHOUT_DB).",
            },
        },
    }
    example = {"text": "买家开了A-to-Z说没收到，但是tracking显示delivered了", "role": "seller"}
    return {
        "paths": {
            "/v1/cases/categorize": {
                "post": {
                    "operationId": "categorizeCases",
                    "tags": ["cases"],
                    "summary": "Categorize one case, or a batch of cases.",
                    "description": (
                        f'Send one case, or `{{"cases": [...]}}` with at most '
                        f"{settings.batch_limit} cases. A batch is all-or-nothing: one invalid "
                        "case rejects the whole request and nothing is logged."
                    ),
                    "x-required-role": "predict",
                    "security": [{"bearer": []}, {"apiKey": []}],
                    "requestBody": json_body(
                        {"oneOf": [ref("CaseInput"), ref("CategorizeBatch")]}, example=example
                    ),
                    "responses": {
                        "200": {
                            **json_response(
                                {"oneOf": [ref("CasePrediction"), ref("CategorizeBatchResult")]},
                                "One prediction, or `results` in the order of `cases`.",
                            ),
                            "links": {
                                "GetPrediction": {
                                    "operationId": "getPrediction",
                                    "parameters": {
                                        "prediction_id": "$response.body#/prediction_id"
                                    },
                                },
                                "CorrectPrediction": {
                                    "operationId": "createFeedback",
                                    "requestBody": {
                                        "prediction_id": "$response.body#/prediction_id",
                                        "category": "other",
                                    },
                                },
                            },
                        },
                        **error_responses(400, 401, 403, 413, 415, 422, 429, 503),
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "CaseInput": _case_input(settings),
                "CategorizeBatch": {
                    "type": "object",
                    "required": ["cases"],
                    "additionalProperties": False,
                    "properties": {
                        "cases": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": settings.batch_limit,
                            "items": ref("CaseInput"),
                        }
                    },
                },
                "CasePrediction": prediction,
                "CategorizeBatchResult": {
                    "type": "object",
                    "required": ["results"],
                    "additionalProperties": False,
                    "properties": {"results": {"type": "array", "items": ref("CasePrediction")}},
                },
                "Entity": {
                    "type": "object",
                    "required": ["type", "text", "value", "start", "end"],
                    "properties": {
                        "type": {"type": "string"},
                        "text": {"type": "string"},
                        "value": {"type": "string"},
                        "start": {"type": "integer", "minimum": 0},
                        "end": {"type": "integer", "minimum": 0},
                    },
                },
                "ModelRef": {
                    "type": "object",
                    "required": ["name", "version"],
                    "properties": {"name": {"type": "string"}, "version": {"type": "string"}},
                },
            }
        },
    }
