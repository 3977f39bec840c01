"""What the service knows about the order a case names: its state, tracking, lateness, risk
and suggestion, as of the moment the case is filed.

    >>> facts = order_facts(orders, events, now)        # one row per order, vectorized
    >>> context = OrderContext.build(order_row, facts_row, events_of_order, now=now)

`order_facts` turns canonical tables (triage.orders.data.schema) into the case-side
`OrderFacts` the order-aware model reads (triage.cases.order_aware): status (not_shipped,
in_transit, delivered, canceled), days late, handed over, days since the last tracking event.
The same function serves the service (one stored order), `triage predict cases --orders` (an
orders file) and the simulated training cases (triage.orders.linked), so that what the model
learned from and what it is shown cannot differ.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triage.cases.order_aware import LinkedOrder, OrderFacts
from triage.orders.risk.snapshots import DAY, NEVER, delivery_times, promise_end, seconds

__all__ = ["HANDOVER_EVENTS", "OrderContext", "facts_of", "order_facts"]

#: tracking events that mean the carrier has the parcel (a label alone is not a shipment)
HANDOVER_EVENTS = ("picked_up", "in_transit", "arrived_at_hub", "out_for_delivery", "exception")


def _stamp(t: int) -> pd.Timestamp:
    return pd.Timestamp(int(t), unit="s", tz="UTC")


def order_facts(orders: pd.DataFrame, events: pd.DataFrame, now: Any) -> pd.DataFrame:
    """Per order of `orders` (same row order) at `now`: status, days_late, handed_over,
    days_since_last_event (NaN without events), last_event_row (index into `events`, -1).

    Only what was known at `now` counts: later events and a delivery after `now` do not."""
    t = int(pd.Timestamp(now).timestamp())
    n = len(orders)
    ids = pd.Index(orders["order_id"].astype(str))
    known = events[seconds(events["time"]) <= t] if len(events) else events
    handed = np.zeros(n, dtype=bool)
    last_time = np.full(n, NEVER, np.int64)
    last_row = np.full(n, -1, np.int64)
    if len(known):
        position = ids.get_indexer(known["order_id"].astype(str))
        stamps = seconds(known["time"])
        mine = position >= 0
        kinds = known["event_type"].to_numpy(object)
        take = mine & np.isin(kinds, HANDOVER_EVENTS)
        handed[position[take]] = True
        # the latest event per order (ties: the later row, as the tables are sorted by time)
        rows = np.flatnonzero(mine)
        rows = rows[np.lexsort((rows, stamps[rows], position[rows]))]
        by_order = position[rows]
        latest = rows[np.r_[by_order[1:] != by_order[:-1], True]] if len(rows) else rows
        last_time[position[latest]] = stamps[latest]
        last_row[position[latest]] = known.index.to_numpy()[latest]
    delivered_t = delivery_times(orders, events)
    delivered = delivered_t <= t
    canceled = orders["canceled"].to_numpy(bool)
    status = np.select(
        [canceled, delivered, handed], ["canceled", "delivered", "in_transit"], "not_shipped"
    )
    end = promise_end(orders)
    reference = np.where(delivered, delivered_t, t)
    days_late = np.where(canceled, 0.0, np.maximum(reference - end, 0) / DAY)
    since = np.where(last_time == NEVER, np.nan, (t - last_time) / DAY)
    return pd.DataFrame(
        {
            "order_id": ids,
            "status": status,
            "days_late": days_late,
            "handed_over": handed | delivered,
            "days_since_last_event": since,
            "delivered_time": np.where(delivered, delivered_t, NEVER),
            "last_event_row": last_row,
        }
    )


def facts_of(row: Any) -> OrderFacts:
    """The `OrderFacts` of one row of `order_facts`."""
    since = row["days_since_last_event"]
    return OrderFacts(
        status=str(row["status"]),
        days_late=round(float(row["days_late"]), 2),
        handed_over=bool(row["handed_over"]),
        days_since_last_event=None if pd.isna(since) else round(float(since), 2),
    )


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
    def build(cls, order: Any, facts_row: Any, events: pd.DataFrame) -> OrderContext:
        """From one canonical order row, its `order_facts` row and the events table it indexes."""
        row = int(facts_row["last_event_row"])
        last = None
        if row >= 0:
            event = events.loc[row]
            last = {
                "type": str(event["event_type"]),
                "time": pd.Timestamp(event["time"]).isoformat(),
                "place": str(event["location"] or "") or None,
            }
        delivered = int(facts_row["delivered_time"])
        return cls(
            order_id=str(order["order_id"]),
            status=str(facts_row["status"]),
            purchased_at=pd.Timestamp(order["purchased_at"]).isoformat(),
            promised_at=pd.Timestamp(order["promised_date"]).strftime("%Y-%m-%d"),
            delivered_at=None if delivered >= NEVER else _stamp(delivered).isoformat(),
            last_event=last,
            days_late=round(float(facts_row["days_late"]), 1),
            facts=facts_of(facts_row),
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
