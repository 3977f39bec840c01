"""The triage page (``/console``, predict): a case text to its category, through the same
categorize-and-log flow as ``POST /v1/cases/categorize`` (triage.cases.intake)."""

from __future__ import annotations

import re
from typing import Any

from flask import request
from flask.typing import ResponseReturnValue

from api.console.access import current_session, needs_role
from api.console.blueprint import blueprint, page
from api.errors import ApiError
from api.runtime import runtime
from api.views.cases import categorize_and_log

__all__ = ["highlight"]


def highlight(text: str, terms: list[str]) -> list[tuple[str, bool]]:
    """`text` cut into (part, is_a_driving_term) pieces, matching the terms case-insensitively
    (the template escapes every part; nothing here is markup)."""
    wanted = sorted({t for t in terms if t.strip()}, key=len, reverse=True)
    if not wanted:
        return [(text, False)]
    pattern = re.compile("|".join(re.escape(t) for t in wanted), re.IGNORECASE)
    pieces: list[tuple[str, bool]] = []
    last = 0
    for match in pattern.finditer(text):
        if match.start() > last:
            pieces.append((text[last : match.start()], False))
        pieces.append((match.group(0), True))
        last = match.end()
    if last < len(text):
        pieces.append((text[last:], False))
    return pieces


def _result(text: str, order_id: str | None) -> dict[str, Any]:
    """Categorize and log one text, as ``POST /v1/cases/categorize`` does (the same code)."""
    limit = runtime().settings.max_text_bytes
    size = len(text.encode("utf-8"))
    if size > limit:
        raise ApiError(413, "text_too_large", f"text: {size} bytes, over the limit of {limit}")
    # the operator looks at a case here: it is categorized with its order, not filed for it
    case = {"text": text, "order_id": order_id, "file": False}
    [result] = categorize_and_log([case], current_session().key_id)
    return result


@blueprint.route("", methods=["GET", "POST"])
@needs_role("predict")
def triage_page() -> ResponseReturnValue:
    """Paste a case; see its category, confidence, alternatives, terms, entities, details."""
    text = request.form.get("text", "") if request.method == "POST" else ""
    order_id = (request.form.get("order_id") or "").strip() or None
    result = None
    if request.method == "POST" and text.strip():
        result = _result(text, order_id)
    context = {"text": text, "order_id": order_id or "", "result": result}
    if result is not None:
        context["pieces"] = highlight(text, [e["term"] for e in result["explanation"]])
    if request.headers.get("HX-Request") and result is not None:
        return page("_triage_result.html", **context)
    return page("triage.html", **context)
