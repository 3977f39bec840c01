"""``POST /v1/cases/categorize``: one case or a batch to categories, logged for feedback."""

from __future__ import annotations

import logging
from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.auth import current_caller, requires
from api.errors import ApiError
from api.runtime import runtime
from api.schemas.cases import PREDICTION_FIELDS
from api.security import request_id
from api.validation import field_path, parse_json_body
from triage.cases.intake import CaseText
from triage.cases.intake import categorize as categorize_cases
from triage.errors import StoreError

__all__ = ["blueprint", "categorize_and_log"]

log = logging.getLogger("triage.api")
blueprint = Blueprint("cases", __name__)


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


def categorize_and_log(cases: list[CaseText], key_id: str | None) -> list[dict[str, Any]]:
    """Categorize `cases` for the key `key_id` and log their predictions: the documented
    result of each (``logged`` False when the log was unavailable and ``log_without_db`` let
    the answer go out without it). The operator console's triage page calls it too."""
    state = runtime()
    categorized = categorize_cases(
        state.models.case_router(),
        cases,
        key_id=key_id,
        request_id=request_id()[:36],
    )
    results = []
    for case, done in zip(cases, categorized, strict=True):
        # the documented fields only, shallow (asdict's deep copy is wasted time here)
        result = {"prediction_id": done.record.id}
        result.update((name, getattr(done.prediction, name)) for name in PREDICTION_FIELDS)
        result["order_id"] = case.order_id
        result["role"] = case.role
        results.append(result)
    logged = True
    try:
        state.store.log_predictions([done.record for done in categorized])
    except StoreError:
        if not state.settings.log_without_db:
            raise
        log.warning("prediction log unavailable; answering without logging (log_without_db)")
        logged = False
    for result in results:
        result["logged"] = logged
    return results


@blueprint.post("/v1/cases/categorize")
@requires("predict", without_db=True)  # answers unlogged with the database down if configured
def categorize() -> ResponseReturnValue:
    """Categorize one case or a batch; every prediction is logged with its text redacted."""
    state = runtime()
    settings = state.settings
    body = parse_json_body(
        lambda doc: "CategorizeBatch" if isinstance(doc, dict) and "cases" in doc else "CaseInput",
        settings.max_body_bytes,
    )
    batch = "cases" in body
    cases: list[dict] = body["cases"] if batch else [body]
    _check_sizes(cases, batch, settings.max_text_bytes)
    results = categorize_and_log(
        [
            CaseText(case["text"], case.get("lang"), case.get("role"), case.get("order_id"))
            for case in cases
        ],
        current_caller().key_id,
    )
    return jsonify({"results": results}) if batch else jsonify(results[0])
