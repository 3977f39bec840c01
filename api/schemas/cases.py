"""The OpenAPI fragment of the cases resource (api/views/cases.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import (
    NO_NUL,
    error_responses,
    json_body,
    json_response,
    page_parameters,
    page_response,
    ref,
)
from triage.cases.order_aware import ORDER_STATES
from triage.cases.store import CASE_ORIGINS, CASE_STATUSES
from triage.config import Settings
from triage.text.language import LANGUAGES

__all__ = ["MAX_CASE_OFFSET", "MAX_CASE_PAGE", "PREDICTION_FIELDS", "openapi"]

MAX_CASE_PAGE = 1000
MAX_CASE_OFFSET = 1_000_000

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
            "file": {
                "type": "boolean",
                "default": True,
                "description": "For a case naming a stored order: file it as the order's case "
                "(default). false: categorize only, nothing is filed.",
            },
        },
    }


def _order_schemas() -> dict[str, Any]:
    """The `order` of a categorized case, and a stored case."""
    named = {"name_zh": {"type": "string"}, "name_en": {"type": "string"}}
    time = {"type": "string", "format": "date-time"}
    state = {
        "type": "object",
        "description": "A stored order as the service knows it now.",
        "required": [
            "order_id",
            "status",
            "purchased_at",
            "promised_at",
            "delivered_at",
            "last_event",
            "days_late",
            "risk",
            "suggestion",
            "case",
        ],
        "additionalProperties": False,
        "properties": {
            "order_id": {"type": "string"},
            "status": {"enum": list(ORDER_STATES)},
            "purchased_at": time,
            "promised_at": {"type": "string", "format": "date"},
            "delivered_at": {"type": ["string", "null"], "format": "date-time"},
            "last_event": {
                "type": ["object", "null"],
                "required": ["type", "time", "place"],
                "properties": {
                    "type": {"type": "string"},
                    "time": time,
                    "place": {"type": ["string", "null"]},
                },
            },
            "days_late": {
                "type": "number",
                "minimum": 0,
                "description": "Days past the end of the promised day (at delivery, or now).",
            },
            "risk": {
                "type": ["object", "null"],
                "description": "P(late) now, for an order still on its way (null otherwise, or "
                "when no risk model is served).",
                "required": ["p_late", "flagged", "model_version", "as_of"],
                "properties": {
                    "p_late": {"type": "number", "minimum": 0, "maximum": 1},
                    "flagged": {"type": "boolean"},
                    "model_version": {"type": "string"},
                    "as_of": time,
                },
            },
            "suggestion": {
                "type": ["object", "null"],
                "description": "The order's latest suggestion.",
                "required": ["id", "status"],
                "properties": {"id": {"type": "string"}, "status": {"type": "string"}},
            },
            "case": {
                "type": ["object", "null"],
                "description": "The order's open case: this one when `created`, or the open "
                "case the filing joined (one order, one case).",
                "required": ["id", "status", "origin"],
                "properties": {
                    "id": {"type": "string"},
                    "status": {"enum": list(CASE_STATUSES)},
                    "origin": {"enum": list(CASE_ORIGINS)},
                    "created": {"type": "boolean"},
                },
            },
        },
    }
    effect = {
        "text_only": {
            "type": "object",
            "description": "What the words alone said (the top-level category is the "
            "order-aware one).",
            "required": ["category", "name_zh", "name_en", "confidence"],
            "properties": {
                "category": {"type": "string"},
                **named,
                "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            },
        },
        "evidence": {
            "type": "array",
            "description": "The order's facts that moved the category, strongest first "
            "(weight: log-odds toward the answer).",
            "items": {
                "type": "object",
                "required": ["fact", "value", "weight"],
                "properties": {
                    "fact": {"type": "string"},
                    "value": {"type": ["string", "number", "boolean"]},
                    "weight": {"type": "number"},
                },
            },
        },
        "details": {
            "type": "array",
            "description": "Required details the text lacks and the order supplied (not "
            "asked of the filer).",
            "items": {
                "type": "object",
                "required": ["id", "name", "value", "found_in"],
                "properties": {
                    "id": {"type": "string"},
                    "name": {"type": "string"},
                    "value": {"type": "string"},
                    "found_in": {"enum": ["order"]},
                },
            },
        },
    }
    order = {
        **state,
        "description": "The stored order the case names (its `order_id`, or an order id found "
        "in its text), as the service knows it when the case is categorized, and what it did "
        "to the category.",
        "required": [*state["required"], *effect],
        "properties": {**state["properties"], **effect},
    }
    case = {
        "type": "object",
        "required": [
            "id",
            "order_id",
            "category",
            "text",
            "language",
            "created_at",
            "suggestion_id",
            "predicted_category",
            "text_category",
            "confidence",
            "needs_review",
            "model_name",
            "model_version",
            "prediction_id",
            "origin",
            "status",
            "resolved_at",
        ],
        "properties": {
            "id": {"type": "string"},
            "order_id": {"type": "string"},
            "category": {"type": "string"},
            "text": {"type": "string"},
            "language": {"type": "string"},
            "created_at": time,
            "suggestion_id": {"type": ["string", "null"]},
            "predicted_category": {
                "type": "string",
                "description": "The case model's category for the text with its order.",
            },
            "text_category": {
                "type": ["string", "null"],
                "description": "The case model's category for the words alone.",
            },
            "confidence": {"type": "number", "minimum": 0, "maximum": 1},
            "needs_review": {"type": "boolean"},
            "model_name": {"type": "string"},
            "model_version": {"type": "string"},
            "prediction_id": {"type": ["string", "null"]},
            "key_id": {"type": ["string", "null"]},
            "origin": {"enum": list(CASE_ORIGINS)},
            "status": {"enum": list(CASE_STATUSES)},
            "resolved_at": {"type": ["string", "null"], "format": "date-time"},
            "filer_role": {"type": ["string", "null"]},
            "order": {"oneOf": [ref("OrderState"), {"type": "null"}]},
        },
    }
    return {"OrderState": state, "CaseOrder": order, "Case": case}


def case_links(case_id: str) -> dict[str, Any]:
    """OpenAPI links from a response holding a case id (`case_id`: its runtime expression)."""
    return {
        "GetCase": {"operationId": "getCase", "parameters": {"case_id": case_id}},
        "ResolveCase": {"operationId": "resolveCase", "parameters": {"case_id": case_id}},
    }


def openapi(settings: Settings) -> dict[str, Any]:
    analyst = {"x-required-role": "analyst", "security": [{"bearer": []}, {"apiKey": []}]}
    case_id = {
        "name": "case_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "pattern": "^case_[0-9a-f]{16}$"},
    }
    named = {"name_zh": {"type": "string"}, "name_en": {"type": "string"}}
    prediction = {
        "type": "object",
        "required": ["prediction_id", *PREDICTION_FIELDS, "order_id", "role", "order", "logged"],
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
            "order_id": {
                "type": ["string", "null"],
                "description": "The order the case names: as sent, or the stored order found in "
                "its text.",
            },
            "role": {"type": ["string", "null"]},
            "order": {
                "oneOf": [ref("CaseOrder"), {"type": "null"}],
                "description": "The stored order the case names and its effect; null when the "
                "case names no stored order (the answer is then the text's alone).",
            },
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
            },
            "/v1/cases": {
                "get": {
                    "operationId": "listCases",
                    "tags": ["cases"],
                    "summary": "Cases of stored orders, newest first (filed and from suggestions).",
                    **analyst,
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"enum": list(CASE_STATUSES)}},
                        {"name": "origin", "in": "query", "schema": {"enum": list(CASE_ORIGINS)}},
                        {"name": "order_id", "in": "query", "schema": {"type": "string"}},
                        *page_parameters(MAX_CASE_PAGE, MAX_CASE_OFFSET),
                    ],
                    "responses": {
                        "200": page_response("cases", ref("Case"), "A page of cases.")
                        | {"links": case_links("$response.body#/cases/0/id")},
                        **error_responses(400, 401, 403, 422, 429, 503),
                    },
                }
            },
            "/v1/cases/{case_id}": {
                "get": {
                    "operationId": "getCase",
                    "tags": ["cases"],
                    "summary": "One case, with its order as the service knows it now.",
                    **analyst,
                    "parameters": [case_id],
                    "responses": {
                        "200": json_response(ref("Case"), "The case and its order."),
                        **error_responses(401, 403, 404, 429, 503),
                    },
                }
            },
            "/v1/cases/{case_id}/resolve": {
                "post": {
                    "operationId": "resolveCase",
                    "tags": ["cases"],
                    "summary": "Resolve an open case; its order may have a new case afterwards.",
                    **analyst,
                    "parameters": [case_id],
                    "responses": {
                        "200": json_response(ref("Case"), "The case, now resolved."),
                        **error_responses(401, 403, 404, 409, 429, 503),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                **_order_schemas(),
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
