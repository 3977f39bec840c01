"""``GET /v1/predictions`` and ``GET /v1/predictions/{id}``: the prediction log, for analysts."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint, request
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.errors import ApiError
from api.runtime import runtime
from api.schemas.predictions import MAX_PAGE
from api.validation import query_int
from api.views.feedback import feedback_document

__all__ = ["blueprint"]

blueprint = Blueprint("predictions", __name__)


def _document(row: dict[str, Any]) -> dict[str, Any]:
    out = {
        "id": row["id"],
        "created_at": row["created_at"].isoformat(),
        "text": row["text"],
        "language": row["language"],
        "category": row["category"],
        "confidence": row["confidence"],
        "needs_review": bool(row["needs_review"]),
        "model": {"name": row["model_name"], "version": row["model_version"]},
        "role": row["filer_role"],
        "order_id": row["order_id"],
    }
    if "feedback" in row:
        out["feedback"] = [feedback_document(f) for f in row["feedback"]]
    return out


def _before() -> dt.datetime | None:
    raw = request.args.get("before")
    if raw is None:
        return None
    try:
        value = dt.datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "wrong_type", "before: expected an ISO 8601 date-time", {"field": "before"}
        ) from None
    return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value


@blueprint.get("/v1/predictions")
@requires("analyst")
def list_predictions() -> ResponseReturnValue:
    """The newest logged predictions (texts redacted); page with `before`."""
    limit = query_int("limit", 100, 1, MAX_PAGE)
    rows = runtime().store.list_predictions(limit=limit, before=_before())
    items = [_document(r) for r in rows]
    return {"predictions": items, "next_before": items[-1]["created_at"] if items else None}


@blueprint.get("/v1/predictions/<prediction_id>")
@requires("analyst")
def get_prediction(prediction_id: str) -> ResponseReturnValue:
    """One logged prediction with its feedback."""
    row = runtime().store.get_prediction(prediction_id)
    if row is None:
        raise ApiError(404, "prediction_not_found", f"no logged prediction {prediction_id!r}"[:200])
    return _document(row)
