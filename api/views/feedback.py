"""``POST /v1/feedback``: an analyst's correction of a logged prediction."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.auth import current_caller, requires
from api.errors import ApiError
from api.runtime import runtime
from api.validation import parse_json_body

__all__ = ["blueprint", "feedback_document"]

blueprint = Blueprint("feedback", __name__)


def feedback_document(row: dict[str, Any]) -> dict[str, Any]:
    """The JSON form of a feedback row."""
    return {
        "id": row["id"],
        "prediction_id": row["prediction_id"],
        "category": row["category"],
        "note": row["note"],
        "created_at": row["created_at"].isoformat(),
    }


@blueprint.post("/v1/feedback")
@requires("analyst")
def create_feedback() -> ResponseReturnValue:
    """Record the right category of a logged prediction; retraining learns from these."""
    state = runtime()
    body = parse_json_body("FeedbackInput", state.settings.max_body_bytes)
    category = body["category"]  # one of the taxonomy's ids: the schema's enum
    row = state.store.add_feedback(
        body["prediction_id"], category, body.get("note"), current_caller().key_id
    )
    if row is None:
        raise ApiError(
            404,
            "prediction_not_found",
            f"no logged prediction {body['prediction_id']!r}",
            {"field": "prediction_id"},
        )
    document = {**feedback_document(row), "predicted_category": row["predicted_category"]}
    return document, 201
