"""The review queue (``/console/review``, analyst): predictions that need review or were
corrected, newest first; confirming or correcting one is an ordinary feedback record, the same
as ``POST /v1/feedback`` (`Store.add_feedback`)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from api.console.access import current_session, needs_role
from api.console.blueprint import blueprint, local_target, page
from api.errors import ApiError
from api.runtime import runtime
from triage.store import REVIEW_STATES

PAGE = 50
#: most predictions one bulk confirmation takes (one page and then some)
MAX_BULK = 200


def _filters() -> dict[str, Any]:
    """The queue's filters from the query string, checked."""
    taxonomy = runtime().taxonomy
    category = request.args.get("category") or None
    if category is not None and category not in taxonomy:
        raise ApiError(422, "invalid_value", f"category: {category[:64]!r} is not in the taxonomy")
    language = request.args.get("language") or None
    if language is not None and language not in ("zh", "en", "mixed"):
        raise ApiError(422, "invalid_value", "language: must be zh, en or mixed")
    state = request.args.get("state") or "all"
    if state not in REVIEW_STATES:
        raise ApiError(422, "invalid_value", f"state: must be one of {', '.join(REVIEW_STATES)}")
    since = None
    if request.args.get("since"):
        try:
            since = dt.datetime.fromisoformat(request.args["since"]).replace(tzinfo=dt.UTC)
        except ValueError:
            raise ApiError(422, "invalid_value", "since: a date such as 2026-12-01") from None
    return {"category": category, "language": language, "state": state, "since": since}


def _cursor() -> tuple[dt.datetime, str] | None:
    raw = request.args.get("before")
    if not raw:
        return None
    at, _, last_id = raw.partition("|")
    try:
        return dt.datetime.fromisoformat(at), last_id
    except ValueError:
        raise ApiError(422, "invalid_value", "before: not a page cursor") from None


@blueprint.get("/review")
@needs_role("analyst")
def review_page() -> ResponseReturnValue:
    """The queue, a page at a time."""
    filters = _filters()
    rows = runtime().store.review_queue(limit=PAGE + 1, before=_cursor(), **filters)
    more = len(rows) > PAGE
    rows = rows[:PAGE]
    following = None
    args = {k: v for k, v in request.args.items() if k != "before"}
    if more:
        last = rows[-1]
        following = url_for(
            "console.review_page", **args, before=f"{last['created_at'].isoformat()}|{last['id']}"
        )
    return page(
        "review.html",
        rows=rows,
        filters=filters,
        following=following,
        first_page=url_for("console.review_page", **args),
        categories=list(runtime().taxonomy),
    )


def _record(prediction_id: str, category: str) -> dict[str, Any]:
    state = runtime()
    if category not in state.taxonomy:
        raise ApiError(422, "invalid_value", f"category: {category[:64]!r} is not in the taxonomy")
    row = state.store.add_feedback(prediction_id, category, None, current_session().key_id)
    if row is None:
        raise ApiError(404, "prediction_not_found", f"no logged prediction {prediction_id[:40]!r}")
    return row


@blueprint.post("/review/<prediction_id>")
@needs_role("analyst")
def review_decide(prediction_id: str) -> ResponseReturnValue:
    """Confirm (the predicted category) or correct one prediction: one feedback record."""
    category = request.form.get("category", "")
    _record(prediction_id, category)
    if request.headers.get("HX-Request"):
        row = runtime().store.get_prediction(prediction_id)
        row["corrected"] = category  # type: ignore[index]
        return page("_review_row.html", row=row, categories=list(runtime().taxonomy), recorded=True)
    return redirect(request.referrer or url_for("console.review_page"))


@blueprint.post("/review/confirm")
@needs_role("analyst")
def review_bulk() -> ResponseReturnValue:
    """Confirm every selected prediction as predicted: one feedback record each."""
    ids = request.form.getlist("prediction_id")[:MAX_BULK]
    store = runtime().store
    for prediction_id in ids:
        found = store.get_prediction(prediction_id)
        if found is not None:
            _record(prediction_id, found["category"])
    return redirect(local_target(request.form.get("next")))
