"""The OpenAPI fragment of the suggestions resource (api/views/suggestions.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import (
    error_responses,
    json_body,
    json_response,
    page_parameters,
    page_response,
    ref,
)
from api.schemas.orders import SUGGESTED_CATEGORIES, decision_links
from triage.config import Settings
from triage.orders.suggestions.lifecycle import STATUSES
from triage.text.language import LANGUAGES

__all__ = ["openapi"]

MAX_PAGE = 1000
MAX_OFFSET = 1_000_000


def openapi(settings: Settings) -> dict[str, Any]:
    secured = {"x-required-role": "predict", "security": [{"bearer": []}, {"apiKey": []}]}
    path_id = {
        "name": "suggestion_id",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
    }
    time = {"type": "string", "format": "date-time"}
    suggestion = {
        "type": "object",
        "required": [
            "suggestion_id",
            "order_id",
            "risk",
            "category",
            "reasons",
            "draft_zh",
            "draft_en",
            "created_at",
            "status",
            "decided_at",
            "case_id",
            "facts",
            "model",
        ],
        "additionalProperties": False,
        "properties": {
            "suggestion_id": {"type": "string"},
            "order_id": {"type": "string"},
            "risk": {"type": "number", "minimum": 0, "maximum": 1},
            "category": {"enum": SUGGESTED_CATEGORIES},
            "reasons": {"type": "array", "items": ref("Reason")},
            "draft_zh": {"type": "string", "description": "The draft case in Chinese."},
            "draft_en": {"type": "string", "description": "The draft case in English."},
            "created_at": time,
            "status": {
                "enum": list(STATUSES),
                "description": "open; accepted (its case was opened) or dismissed by the "
                "filer; resolved (its order was delivered or canceled) or expired (its order "
                "went over 30 days past its promise undelivered), closed by the service when it "
                "re-scores the order. Only an open suggestion can be accepted or dismissed.",
            },
            "decided_at": {"type": ["string", "null"], "format": "date-time"},
            "case_id": {
                "type": ["string", "null"],
                "description": "The case opened by accepting it.",
            },
            "facts": ref("OrderFacts"),
            "model": ref("RiskModel"),
        },
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
            "prediction",
        ],
        "additionalProperties": False,
        "properties": {
            "id": {"type": "string"},
            "order_id": {"type": "string"},
            "category": {
                "enum": SUGGESTED_CATEGORIES,
                "description": "The suggestion's category, which the filer accepted.",
            },
            "text": {"type": "string", "description": "The draft, or the filer's edit."},
            "language": {"enum": list(LANGUAGES)},
            "created_at": time,
            "suggestion_id": {"type": "string"},
            "prediction": {
                "type": "object",
                "description": "The case model's reading of the text (logged; correct it "
                "with POST /v1/feedback and `prediction_id`).",
                "required": [
                    "prediction_id",
                    "category",
                    "name_zh",
                    "name_en",
                    "confidence",
                    "needs_review",
                    "missing_details",
                    "model",
                ],
                "properties": {
                    "prediction_id": {"type": "string"},
                    "category": {"type": "string"},
                    "name_zh": {"type": "string"},
                    "name_en": {"type": "string"},
                    "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                    "needs_review": {"type": "boolean"},
                    "missing_details": {"type": "array", "items": {"type": "object"}},
                    "model": ref("ModelRef"),
                },
            },
        },
    }
    return {
        "paths": {
            "/v1/suggestions": {
                "get": {
                    "operationId": "listSuggestions",
                    "tags": ["suggestions"],
                    "summary": 'Proactive "open a case?" suggestions, newest first.',
                    **secured,
                    "parameters": [
                        {"name": "status", "in": "query", "schema": {"enum": list(STATUSES)}},
                        {"name": "order_id", "in": "query", "schema": {"type": "string"}},
                        *page_parameters(MAX_PAGE, MAX_OFFSET),
                    ],
                    "responses": {
                        "200": page_response(
                            "suggestions", ref("Suggestion"), "A page of suggestions."
                        )
                        | {"links": decision_links("$response.body#/suggestions/0/suggestion_id")},
                        **error_responses(400, 401, 403, 422, 429, 503),
                    },
                }
            },
            "/v1/suggestions/{suggestion_id}/accept": {
                "post": {
                    "operationId": "acceptSuggestion",
                    "tags": ["suggestions"],
                    "summary": "Open the suggested case: the draft or an edited text, categorized.",
                    "description": (
                        "The body is optional: without it the Chinese draft is filed. "
                        '`{"language": "en"}` files the English draft; `{"text": ...}` files '
                        "the filer's edited text (language detected unless given). The case "
                        "model categorizes the text and its prediction is logged."
                    ),
                    **secured,
                    "parameters": [path_id],
                    "requestBody": {
                        **json_body(ref("AcceptInput"), example={"language": "en"}),
                        "required": False,
                    },
                    "responses": {
                        "201": json_response(
                            {
                                "type": "object",
                                "required": ["case", "suggestion"],
                                "properties": {
                                    "case": ref("SuggestedCase"),
                                    "suggestion": ref("Suggestion"),
                                },
                            },
                            "The case opened, and the suggestion now accepted.",
                        ),
                        **error_responses(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/suggestions/{suggestion_id}/dismiss": {
                "post": {
                    "operationId": "dismissSuggestion",
                    "tags": ["suggestions"],
                    "summary": "Dismiss a suggestion; its order's cooldown starts.",
                    "description": (
                        f"No new suggestion for the order for "
                        f"{settings.suggestion_cooldown_days:g} days "
                        "(TRIAGE_SUGGESTION_COOLDOWN_DAYS)."
                    ),
                    **secured,
                    "parameters": [path_id],
                    "responses": {
                        "200": json_response(ref("Suggestion"), "The dismissed suggestion."),
                        **error_responses(401, 403, 404, 409, 429, 503),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "Suggestion": suggestion,
                "SuggestedCase": case,
                "AcceptInput": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "text": {
                            "type": ["string", "null"],
                            "pattern": r"\S",
                            "x-pattern-message": "must not be empty or only whitespace",
                            "description": "The filer's edited text (default: the draft); at "
                            f"most {settings.max_text_bytes} bytes in UTF-8.",
                        },
                        "language": {
                            "enum": [*LANGUAGES, None],
                            "description": "Which draft to file (zh or en; default zh), or "
                            "the language of the edited text.",
                        },
                    },
                },
            }
        },
    }
