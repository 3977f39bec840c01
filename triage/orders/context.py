"""What the service knows about the order a case names: its state, tracking, lateness, risk
and suggestion, as of the moment the case is filed.

    >>> state = order_state(order, events, now)          # one order: a few microseconds
    >>> context = OrderContext.build(order, events, state)
    >>> frame = order_facts(orders_table, events_table, now)   # many orders (training data)

`order_state` is the one definition of an order's state as a case sees it (status
not_shipped, in_transit, delivered or canceled; days late; handed over; days since the last
tracking event); its `facts` are what the order-aware model reads (triage.cases.order_aware).
The service calls it on one stored order per case, the order-linked training cases on
simulated tables through `order_facts`, so that what the model learned from and what it is
shown cannot differ. Only what was known at `now` counts: later events and a delivery after
`now` do not.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd

from triage.cases.order_aware import LinkedOrder, OrderFacts
from triage.errors import InputError

__all__ = [
    "HANDOVER_EVENTS",
    "OrderContext",
    "OrderState",
    "contexts_from_tables",
    "order_facts",
    "order_state",
    "parse_time",
]

#: tracking events that mean the carrier has the parcel (a label alone is not a shipment)
HANDOVER_EVENTS = frozenset(
    ("picked_up", "in_transit", "arrived_at_hub", "out_for_delivery", "exception")
)
DAY_SECONDS = 86_400.0


def _utc(value: Any) -> dt.datetime | None:
    """An aware UTC datetime, or None for a missing one (None, NaT)."""
    if value is None or value != value:  # NaT is not equal to itself
        return None
    if type(value) is dt.datetime:  # the database's: no pandas on the request path
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime(warn=False)  # to the microsecond


@dataclass(frozen=True)
class OrderState:
    """One order at one moment (see the module)."""

    facts: OrderFacts
    delivered_at: dt.datetime | None
    last_event: Mapping[str, Any] | None  # the latest event known at the moment


def order_state(
    order: Mapping[str, Any], events: Sequence[Mapping[str, Any]], now: dt.datetime
) -> OrderState:
    """The state of `order` (a record of the canonical order fields) at `now`, from its tracking
    `events` (records: time, event_type, location; any order)."""
    timed = [(_utc(e["time"]), i, e) for i, e in enumerate(events)]
    known = [(t, e) for t, _, e in sorted(timed, key=lambda x: (x[0], x[1])) if t <= now]
    delivered_times = [t for t, e in known if e["event_type"] == "delivered"]
    stored = _utc(order.get("delivered_at"))
    if stored is not None and stored <= now:
        delivered_times.append(stored)
    delivered_at = min(delivered_times) if delivered_times else None
    canceled = bool(order.get("canceled"))
    handed = any(e["event_type"] in HANDOVER_EVENTS for _, e in known)
    if canceled:
        status = "canceled"
    elif delivered_at is not None:
        status = "delivered"
    elif handed:
        status = "in_transit"
    else:
        status = "not_shipped"
    promised = _utc(order["promised_date"])
    assert promised is not None  # a required field
    promise_end = promised + dt.timedelta(days=1)  # on time: delivered on the promised day
    reference = delivered_at or now
    late = 0.0 if canceled else max((reference - promise_end).total_seconds(), 0) / DAY_SECONDS
    last_time, last = known[-1] if known else (None, None)
    since = None if last_time is None else (now - last_time).total_seconds() / DAY_SECONDS
    facts = OrderFacts(
        status=status,
        days_late=round(late, 4),
        handed_over=handed or delivered_at is not None,
        days_since_last_event=None if since is None else round(since, 4),
    )
    return OrderState(facts, delivered_at, last)


def _events_by_order(events: pd.DataFrame, columns: list[str] | None = None) -> dict:
    """The event records of a canonical events table (`columns` of it), by order id."""
    by_order: dict[str, list[dict]] = {}
    if len(events):
        for event in (events if columns is None else events[columns]).to_dict("records"):
            by_order.setdefault(str(event["order_id"]), []).append(event)
    return by_order


def parse_time(value: Any, name: str) -> dt.datetime:
    """`value` (ISO 8601 text, or a time) as an aware UTC datetime; `InputError` naming the
    option or field `name` when it is not a time."""
    try:
        stamp = _utc(value)
    except (TypeError, ValueError):
        stamp = None
    if stamp is None:
        raise InputError(f"{name}: not a date or time; use ISO 8601 such as 2024-11-12T09:00:00Z")
    return stamp


def order_facts(orders: pd.DataFrame, events: pd.DataFrame, now: Any) -> list[OrderFacts]:
    """`order_state(...).facts` of every order of the canonical `orders` table at `now`, in
    the table's order."""
    when = _utc(now)
    assert when is not None
    by_order = _events_by_order(events, ["order_id", "time", "event_type"])
    columns = ["order_id", "promised_date", "delivered_at", "canceled"]
    return [
        order_state(order, by_order.get(str(order["order_id"]), ()), when).facts
        for order in orders[columns].to_dict("records")
    ]


def contexts_from_tables(
    orders: pd.DataFrame, events: pd.DataFrame, order_ids: Any, now: Any
) -> dict[str, OrderContext]:
    """`OrderContext` of each of `order_ids` found in the canonical `orders` table (an orders
    file: no risk, suggestion or case is known), at `now`."""
    when = _utc(now)
    assert when is not None
    wanted = {str(i) for i in order_ids}
    chosen = orders[orders["order_id"].astype(str).isin(wanted)]
    mine = events[events["order_id"].astype(str).isin(wanted)] if len(events) else events
    by_order = _events_by_order(mine)
    out = {}
    for order in chosen.to_dict("records"):
        state = order_state(order, by_order.get(str(order["order_id"]), ()), when)
        out[str(order["order_id"])] = OrderContext.build(order, state)
    return out


@dataclass
class OrderContext:
    """The order a case names, as the categorize response shows it (``order``)."""

    order_id: str
    status: str
    purchased_at: str
    promised_at: str
    delivered_at: str | None
    last_event: dict | None
    days_late: float
    facts: OrderFacts
    risk: dict | None = None
    suggestion: dict | None = None
    case: dict | None = None

    @classmethod
    def build(cls, order: Mapping[str, Any], state: OrderState) -> OrderContext:
        """From one order record and its `order_state`."""
        last = None
        if state.last_event is not None:
            place = state.last_event.get("location")
            last = {
                "type": str(state.last_event["event_type"]),
                "time": _utc(state.last_event["time"]).isoformat(),
                "place": str(place) if place else None,
            }
        return cls(
            order_id=str(order["order_id"]),
            status=state.facts.status,
            purchased_at=_utc(order["purchased_at"]).isoformat(),
            promised_at=_utc(order["promised_date"]).strftime("%Y-%m-%d"),
            delivered_at=state.delivered_at.isoformat() if state.delivered_at else None,
            last_event=last,
            days_late=round(state.facts.days_late, 1),
            facts=state.facts,
        )

    def linked(self) -> LinkedOrder:
        """The order as the case model sees it: facts, and the required details (taxonomy
        detail ids) it supplies: the order number, its delivery date, its last tracking update."""
        details = {"order_id": self.order_id, "reference": self.order_id}
        if self.delivered_at:
            details["delivery_date"] = self.delivered_at[:10]
        if self.last_event:
            details["last_update"] = self.last_event["time"][:10]
        return LinkedOrder(self.facts, details)

    def to_dict(self) -> dict:
        """The response's ``order`` object (without the case-side additions)."""
        return {
            "order_id": self.order_id,
            "status": self.status,
            "purchased_at": self.purchased_at,
            "promised_at": self.promised_at,
            "delivered_at": self.delivered_at,
            "last_event": self.last_event,
            "days_late": self.days_late,
            "risk": self.risk,
            "suggestion": self.suggestion,
            "case": self.case,
        }
