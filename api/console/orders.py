"""The orders-at-risk page (``/console/orders``, analyst): stored open orders, the riskiest
first (the risk of their open suggestion), filtered by carrier, lane and seller, each linking
to its tracking timeline (``/console/orders/<id>``)."""

from __future__ import annotations

from flask import request
from flask.typing import ResponseReturnValue

from api.console.access import needs_role
from api.console.blueprint import blueprint, page
from api.console.suggestions import offset_arg
from api.errors import ApiError
from api.runtime import runtime

PAGE = 50
LANE_SEPARATOR = " → "


@blueprint.get("/orders")
@needs_role("analyst")
def orders_page() -> ResponseReturnValue:
    """Open orders by risk, a page at a time."""
    offset = offset_arg()
    carrier = request.args.get("carrier") or None
    seller = (request.args.get("seller") or "").strip() or None
    lane = None
    if request.args.get("lane"):
        origin, separator, destination = request.args["lane"].partition(LANE_SEPARATOR)
        if not separator:
            raise ApiError(422, "invalid_value", "lane: seller region → buyer region")
        lane = (origin, destination)
    store = runtime().order_service().orders
    rows = store.open_by_risk(
        limit=PAGE + 1, offset=offset, carrier=carrier, lane=lane, seller=seller
    )
    facets = store.open_facets()
    return page(
        "orders.html",
        rows=rows[:PAGE],
        facets=facets,
        separator=LANE_SEPARATOR,
        filters={"carrier": carrier, "lane": request.args.get("lane"), "seller": seller},
        offset=offset,
        following=offset + PAGE if len(rows) > PAGE else None,
        previous=max(offset - PAGE, 0) if offset else None,
    )


@blueprint.get("/orders/<order_id>")
@needs_role("analyst")
def order_page(order_id: str) -> ResponseReturnValue:
    """One stored order: its fields, tracking timeline and suggestions."""
    service = runtime().order_service()
    orders, _events = service.orders.tables_of([order_id])
    if orders.empty:
        raise ApiError(404, "order_not_found", f"no stored order {order_id[:64]!r}")
    return page(
        "order.html",
        order=orders.iloc[0].to_dict(),
        timeline=service.orders.timelines([order_id])[order_id],
        suggestions=service.suggestions.for_order(order_id),
    )
