"""Proactive "open a case?" suggestions: ``GET /v1/suggestions``, and
``POST /v1/suggestions/{id}/accept`` (opens the case, categorized by the case model) and
``POST /v1/suggestions/{id}/dismiss`` (the order's cooldown starts).

All three need the `predict` role: the filer's front end lists the suggestions and accepts or
dismisses them. A decision is final: deciding a suggestion twice is 409.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from api.auth import current_caller, requires
from api.errors import ApiError
from api.runtime import runtime
from api.schemas.suggestions import MAX_OFFSET, MAX_PAGE
from api.validation import parse_json_body, query_int
from triage.orders.suggestions.lifecycle import STATUSES

__all__ = ["blueprint"]

blueprint = Blueprint("suggestions", __name__)


@blueprint.get("/v1/suggestions")
@requires("predict")
def list_suggestions() -> ResponseReturnValue:
    """Suggestions, newest first; filter by `status` and `order_id`, page with `offset`."""
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise ApiError(
            422,
            "invalid_value",
            f"status: must be one of {', '.join(STATUSES)}",
            {"field": "status", "rule": "enum", "allowed": list(STATUSES)},
        )
    order_id = request.args.get("order_id") or None
    limit = query_int("limit", 100, 1, MAX_PAGE)
    offset = query_int("offset", 0, 0, MAX_OFFSET)
    found = (
        runtime()
        .order_service()
        .suggestions.list(status=status, limit=limit + 1, offset=offset, order_id=order_id)
    )
    more = len(found) > limit
    return {
        "suggestions": [s.to_dict() for s in found[:limit]],
        "next_offset": offset + limit if more else None,
    }


def _optional_body(schema: str, max_bytes: int) -> dict[str, Any]:
    """The JSON body, or {} when the request has none (accepting the draft as it is)."""
    if not request.content_length and not request.headers.get("Transfer-Encoding"):
        return {}
    return parse_json_body(schema, max_bytes)


def _case_document(case: Any, prediction: Any) -> dict[str, Any]:
    return {
        "id": case.id,
        "order_id": case.order_id,
        "category": case.category,
        "text": case.text,
        "language": case.language,
        "created_at": case.created_at.isoformat(),
        "suggestion_id": case.suggestion_id,
        "prediction": {
            "prediction_id": case.prediction_id,
            "category": prediction.category,
            "name_zh": prediction.name_zh,
            "name_en": prediction.name_en,
            "confidence": prediction.confidence,
            "needs_review": prediction.needs_review,
            "missing_details": prediction.missing_details,
            "model": prediction.model,
        },
    }


@blueprint.post("/v1/suggestions/<suggestion_id>/accept")
@requires("predict")
def accept_suggestion(suggestion_id: str) -> ResponseReturnValue:
    """Open the suggested case with the draft (or the filer's edited text), categorized."""
    state = runtime()
    settings = state.settings
    body = _optional_body("AcceptInput", settings.max_body_bytes)
    text = body.get("text")
    if text is not None and len(text.encode("utf-8")) > settings.max_text_bytes:
        raise ApiError(
            413,
            "text_too_large",
            f"text: over the limit of {settings.max_text_bytes} bytes",
            {"field": "text", "limit": settings.max_text_bytes},
        )
    router = state.models.case_router()
    suggestion, case, prediction = state.order_service().accept(
        router,
        suggestion_id,
        text=text,
        language=body.get("language"),
        key_id=current_caller().key_id,
    )
    return {"case": _case_document(case, prediction), "suggestion": suggestion.to_dict()}, 201


@blueprint.post("/v1/suggestions/<suggestion_id>/dismiss")
@requires("predict")
def dismiss_suggestion(suggestion_id: str) -> ResponseReturnValue:
    """Dismiss a suggestion; nothing new for its order during the cooldown."""
    return runtime().order_service().dismiss(suggestion_id).to_dict()
