"""``POST /v1/cases/categorize``: one case or a batch to categories, logged for feedback.

A case that names an order the service has stored (its ``order_id``, or an order id in its
text) is categorized with what the order says (triage.cases.order_aware), answers with the
order (``order``), and is filed as that order's case unless ``file`` is false
(triage.orders.filing: one order, one case). ``GET /v1/cases``, ``GET /v1/cases/{id}`` and
``POST /v1/cases/{id}/resolve`` are the analysts'.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from flask import Blueprint, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.routing import BaseConverter

from api.auth import current_caller, requires
from api.errors import ApiError
from api.runtime import Runtime, runtime
from api.schemas.cases import MAX_CASE_OFFSET, MAX_CASE_PAGE, PREDICTION_FIELDS
from api.security import request_id
from api.validation import field_path, parse_json_body, query_int
from triage.cases.intake import CaseText
from triage.cases.intake import categorize as categorize_cases
from triage.cases.router import CasePrediction
from triage.cases.store import CASE_ORIGINS, CASE_STATUSES, CaseRecord
from triage.errors import NotFoundError, StoreError
from triage.orders.context import OrderContext
from triage.orders.filing import file_case, filed_case, named_contexts, order_contexts
from triage.store_tables import utcnow

__all__ = ["blueprint", "categorize_and_log"]

log = logging.getLogger("triage.api")
blueprint = Blueprint("cases", __name__)


class CaseId(BaseConverter):
    """A case id in a path (``case_`` and 16 hex digits): only such paths reach the case
    routes, so that /v1/cases/categorize is not also "the case named categorize" (whose GET
    would then be advertised in its Allow header)."""

    regex = r"case_[0-9a-f]{16}"


blueprint.record_once(lambda state: state.app.url_map.converters.setdefault("case_id", CaseId))


def _check_sizes(cases: list[dict], batch: bool, limit: int) -> None:
    for i, case in enumerate(cases):
        size = len(case["text"].encode("utf-8"))
        if size > limit:
            where = field_path(("cases", i, "text") if batch else ("text",))
            raise ApiError(
                413,
                "text_too_large",
                f"{where}: {size} bytes, over the limit of {limit} bytes",
                {"field": where, "limit": limit, "bytes": size},
            )


def categorize_and_log(cases: list[dict], key_id: str | None) -> list[dict[str, Any]]:
    """Categorize `cases` (the fields of CaseInput: text, lang, role, order_id, file) for the
    key `key_id`, log their predictions and file the cases naming a stored order: the
    documented result of each (``logged`` False when the log was unavailable and
    ``log_without_db`` let the answer go out without it). The operator console's triage page
    calls it too."""
    state = runtime()
    now = utcnow()
    named, contexts = _orders_named(state, cases, now)
    categorized = categorize_cases(
        state.models.case_router(),
        [
            CaseText(
                case["text"],
                case.get("lang"),
                case.get("role"),
                named.get(i, case.get("order_id")),
                contexts[named[i]].linked() if i in named else None,
            )
            for i, case in enumerate(cases)
        ],
        key_id=key_id,
        request_id=request_id()[:36],
        now=now,
    )
    results = []
    for case, done in zip(cases, categorized, strict=True):
        # the documented fields only, shallow (asdict's deep copy is wasted time here)
        result = {"prediction_id": done.record.id}
        result.update((name, getattr(done.prediction, name)) for name in PREDICTION_FIELDS)
        result["order_id"] = done.record.order_id
        result["role"] = case.get("role")
        result["order"] = None
        results.append(result)
    logged = True
    try:
        state.store.log_predictions([done.record for done in categorized])
    except StoreError:
        if not state.settings.log_without_db:
            raise
        log.warning("prediction log unavailable; answering without logging (log_without_db)")
        logged = False
    for i, result in enumerate(results):
        result["logged"] = logged
        if i in named:
            context = contexts[named[i]]
            if logged and cases[i].get("file", True):
                _file(state, context, cases[i], categorized[i], now)
            result["order"] = _order_document(context, categorized[i].prediction)
    return results


@blueprint.post("/v1/cases/categorize")
@requires("predict", without_db=True)  # answers unlogged with the database down if configured
def categorize() -> ResponseReturnValue:
    """Categorize one case or a batch; every prediction is logged with its text redacted, and
    a case naming a stored order is filed for it."""
    settings = runtime().settings
    body = parse_json_body(
        lambda doc: "CategorizeBatch" if isinstance(doc, dict) and "cases" in doc else "CaseInput",
        settings.max_body_bytes,
    )
    batch = "cases" in body
    cases: list[dict] = body["cases"] if batch else [body]
    _check_sizes(cases, batch, settings.max_text_bytes)
    results = categorize_and_log(cases, current_caller().key_id)
    return jsonify({"results": results}) if batch else jsonify(results[0])


def _orders_named(
    state: Runtime, cases: list[dict], now: dt.datetime
) -> tuple[dict[int, str], dict[str, OrderContext]]:
    """The stored order each case names (by position) and what the service knows about each.
    With the database down and TRIAGE_LOG_WITHOUT_DB on, none (the text alone decides)."""
    try:
        named, contexts = named_contexts(
            state.order_service(),
            [c["text"] for c in cases],
            [c.get("order_id") for c in cases],
            now,
        )
    except StoreError:
        if not state.settings.log_without_db:
            raise
        log.warning("orders unavailable; categorizing from the text alone (log_without_db)")
        return {}, {}
    return named, contexts


def _file(state: Runtime, context: OrderContext, case: dict, done: Any, now: dt.datetime) -> None:
    """File the case for its order (one order, one case); `context.case` becomes the order's
    case, ``created`` saying whether this request stored it."""
    record = filed_case(context.order_id, case["text"], done, now, case.get("role"))
    stored, created = file_case(state.order_service(), record)
    context.case = {
        "id": stored.id,
        "status": stored.status,
        "origin": stored.origin,
        "created": created,
    }
    if stored.suggestion_id is not None:
        context.suggestion = {"id": stored.suggestion_id, "status": "accepted"}


def _order_document(context: OrderContext, prediction: CasePrediction) -> dict[str, Any]:
    document = context.to_dict()
    document["text_only"] = prediction.text_only
    document["evidence"] = prediction.evidence
    document["details"] = prediction.order_details
    return document


def _case_document(case: CaseRecord) -> dict[str, Any]:
    return case.to_dict()


@blueprint.get("/v1/cases")
@requires("analyst")
def list_cases() -> ResponseReturnValue:
    """Cases newest first; filter by `status`, `origin` and `order_id`, page with `offset`."""
    filters = {}
    for name, allowed in (("status", CASE_STATUSES), ("origin", CASE_ORIGINS)):
        value = request.args.get(name)
        if value is not None and value not in allowed:
            raise ApiError(
                422,
                "invalid_value",
                f"{name}: must be one of {', '.join(allowed)}",
                {"field": name, "rule": "enum", "allowed": list(allowed)},
            )
        filters[name] = value
    limit = query_int("limit", 100, 1, MAX_CASE_PAGE)
    offset = query_int("offset", 0, 0, MAX_CASE_OFFSET)
    found = (
        runtime()
        .order_service()
        .cases.list(
            **filters, order_id=request.args.get("order_id") or None, limit=limit + 1, offset=offset
        )
    )
    return {
        "cases": [_case_document(c) for c in found[:limit]],
        "next_offset": offset + limit if len(found) > limit else None,
    }


@blueprint.get("/v1/cases/<case_id:case_id>")
@requires("analyst")
def get_case(case_id: str) -> ResponseReturnValue:
    """One case with its order's story."""
    state = runtime()
    case = state.order_service().cases.get(case_id)
    if case is None:
        raise NotFoundError(f"no case {case_id}")
    document = _case_document(case)
    contexts = order_contexts(state.order_service(), [case.order_id], utcnow())
    context = contexts.get(case.order_id)
    document["order"] = context.to_dict() if context is not None else None
    return document


@blueprint.post("/v1/cases/<case_id:case_id>/resolve")
@requires("analyst")
def resolve_case(case_id: str) -> ResponseReturnValue:
    """Resolve an open case (409 when it is resolved already)."""
    return _case_document(runtime().order_service().cases.resolve(case_id))
