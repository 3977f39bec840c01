"""Delayed orders over HTTP: ``POST /v1/orders/risk`` (score, nothing stored), ``POST /v1/orders``
and ``POST /v1/orders/events`` (ingest, then re-score the orders touched and suggest cases).

Roles: scoring is `predict` (a front end may ask "will this order be late?"); ingesting is
`analyst`, because stored orders and events drive the proactive suggestions every filer sees,
so the order system's integration gets its own analyst key and front ends' predict keys cannot
write orders. The risk model is the registry's champion ``risk``, served by this resource's
`setup` (api.runtime); it is optional for readiness, and without it these endpoints answer 503.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.errors import ApiError
from api.runtime import Runtime, runtime
from api.validation import parse_json_body
from triage.errors import InputError
from triage.orders.risk.scoring import RISK_MODEL_NAME, RiskScore, RiskScorer

__all__ = ["blueprint", "setup"]

blueprint = Blueprint("orders", __name__)


def setup(state: Runtime) -> None:
    """Serve the risk model too (optional: the service is ready without it)."""
    state.serve_risk_model()


def _scorer(state: Runtime) -> RiskScorer:
    return state.models.get(RISK_MODEL_NAME)


def _invalid(exc: InputError) -> ApiError:
    """422 for orders or events the library refused, naming the list when it is known."""
    message = str(exc)
    where = message.split(":", 1)[0]
    details = {"field": where} if where in ("orders", "events", "order", "as_of") else {}
    return ApiError(422, "invalid_input", message, details)


def risk_document(order_id: str, score: RiskScore | None, as_of: str, model: dict) -> dict:
    """The JSON form of one order's risk (or of an order that is not open)."""
    if score is None:
        return {
            "order_id": order_id,
            "open": False,
            "as_of": as_of,
            "risk": None,
            "flagged": None,
            "category": None,
            "reasons": [],
            "facts": None,
            "model": model,
        }
    return {
        "order_id": order_id,
        "open": True,
        "as_of": score.as_of,
        "risk": score.risk,
        "flagged": score.flagged,
        "category": score.category,
        "reasons": score.reasons,
        "facts": score.facts,
        "model": score.model,
    }


@blueprint.post("/v1/orders/risk")
@requires("predict")
def score_orders() -> ResponseReturnValue:
    """Score one order or a batch, with their tracking events; nothing is stored."""
    state = runtime()
    body = parse_json_body(
        lambda doc: "RiskBatchInput" if isinstance(doc, dict) and "orders" in doc else "RiskInput",
        state.settings.max_body_bytes,
    )
    batch = "orders" in body
    scorer = _scorer(state)
    try:
        as_of, results = state.order_service().score(
            scorer,
            body["orders"] if batch else [body["order"]],
            body.get("events") or [],
            body.get("as_of"),
        )
    except InputError as exc:
        raise _invalid(exc) from None
    model = {"name": scorer.name, "version": scorer.version, "threshold": scorer.threshold}
    documents = [risk_document(i, s, as_of.isoformat(), model) for i, s in results]
    if batch:
        return jsonify({"as_of": as_of.isoformat(), "results": documents})
    return jsonify(documents[0])


def ingest_document(result: Any) -> dict[str, Any]:
    saved = result.saved
    return {
        "as_of": result.as_of.isoformat(),
        "orders": {"new": saved.orders_new, "updated": saved.orders_updated},
        "events": {"new": saved.events_new, "duplicate": saved.events_duplicate},
        "scored": result.scored,
        "flagged": result.flagged,
        "suggestions": [s.to_dict() for s in result.suggestions],
        "closed": [s.to_dict() for s in result.closed],
    }


def _ingest(schema: str) -> ResponseReturnValue:
    state = runtime()
    body = parse_json_body(schema, state.settings.max_body_bytes)
    scorer = _scorer(state)  # before storing anything: 503 leaves the database untouched
    try:
        result = state.order_service().ingest(
            scorer, body.get("orders") or [], body.get("events") or []
        )
    except InputError as exc:
        raise _invalid(exc) from None
    return jsonify(ingest_document(result))


@blueprint.post("/v1/orders")
@requires("analyst")
def ingest_orders() -> ResponseReturnValue:
    """Store orders (and optionally their events), re-score them, suggest cases."""
    return _ingest("OrdersIngest")


@blueprint.post("/v1/orders/events")
@requires("analyst")
def ingest_events() -> ResponseReturnValue:
    """Store tracking events of stored orders, re-score those orders, suggest cases."""
    return _ingest("EventsIngest")
