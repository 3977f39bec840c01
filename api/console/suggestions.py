"""The suggestions page (``/console/suggestions``, predict): open "open a case?" suggestions,
riskiest first, with their reasons, the order's tracking timeline and the drafts in Chinese
and English side by side; accepting (the draft, or an edit of it) and dismissing go through
the order service and the suggestion lifecycle, as ``POST /v1/suggestions/{id}/accept|dismiss``.
"""

from __future__ import annotations

from flask import redirect, request, url_for
from flask.typing import ResponseReturnValue

from api.console.access import current_session, needs_role
from api.console.blueprint import blueprint, page
from api.errors import ApiError
from api.runtime import runtime
from api.validation import query_int

PAGE = 20
MAX_OFFSET = 100_000


def offset_arg() -> int:
    """The page's `offset` query parameter (0 by default)."""
    return query_int("offset", 0, 0, MAX_OFFSET)


@blueprint.get("/suggestions")
@needs_role("predict")
def suggestions_page() -> ResponseReturnValue:
    """Open suggestions, riskiest first, a page at a time."""
    offset = offset_arg()
    found = (
        runtime()
        .order_service()
        .suggestions.list(status="open", limit=PAGE + 1, offset=offset, by_risk=True)
    )
    shown = found[:PAGE]
    return page(
        "suggestions.html",
        suggestions=shown,
        timelines=runtime().order_service().orders.timelines([s.order_id for s in shown]),
        offset=offset,
        following=offset + PAGE if len(found) > PAGE else None,
        previous=max(offset - PAGE, 0) if offset else None,
        done=request.args.get("done"),
    )


@blueprint.post("/suggestions/<suggestion_id>/accept")
@needs_role("predict")
def suggestion_accept(suggestion_id: str) -> ResponseReturnValue:
    """Open the suggested case: the draft as it is, or the filer's edit of it."""
    state = runtime()
    language = request.form.get("language", "zh")
    if language not in ("zh", "en"):
        raise ApiError(422, "invalid_value", "language: zh or en")
    edited = (request.form.get(f"draft_{language}") or "").strip()
    stored = state.order_service().suggestions.get(suggestion_id)
    draft = getattr(stored, f"draft_{language}", None) if stored is not None else None
    text = edited if edited and edited != (draft or "").strip() else None
    if text is not None and len(text.encode("utf-8")) > state.settings.max_text_bytes:
        raise ApiError(413, "text_too_large", "text: over the size limit")
    _suggestion, case, _prediction = state.order_service().accept(
        state.models.case_router(),
        suggestion_id,
        text=text,
        language=language,
        key_id=current_session().key_id,
    )
    if request.headers.get("HX-Request"):
        return page("_suggestion_done.html", case=case, action="accepted", id=suggestion_id)
    return redirect(url_for("console.suggestions_page", done=case.id))


@blueprint.post("/suggestions/<suggestion_id>/dismiss")
@needs_role("predict")
def suggestion_dismiss(suggestion_id: str) -> ResponseReturnValue:
    """Dismiss a suggestion; the order's cooldown starts."""
    runtime().order_service().dismiss(suggestion_id)
    if request.headers.get("HX-Request"):
        return page("_suggestion_done.html", case=None, action="dismissed", id=suggestion_id)
    return redirect(url_for("console.suggestions_page"))
