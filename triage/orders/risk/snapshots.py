"""Outcomes, decision points and the "as known at" view of orders and events.

Lateness: an order is late when it is delivered after its promised date (the calendar day,
UTC), or never delivered once the promise is `lost_after_days` behind the end of the data.
Canceled orders carry no label.

Decision points, each a snapshot ``(order, as_of)`` taken while the order is still open (not
delivered) and before its promise is broken (``as_of`` < end of the promised day):

    purchase     at the purchase time
    handover     at the first ``picked_up`` event (the carrier hand-over)
    open_daily   every midnight UTC after the purchase while the order is open

`censor(orders, events, at)` returns the tables as they stood at `at`: the feature code never
needs more, and the no-leakage test compares features built on the full and censored tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = [
    "DECISION_POINTS",
    "censor",
    "decision_snapshots",
    "delivery_times",
    "late_labels",
    "lateness_days",
    "promise_end",
    "seconds",
]

DECISION_POINTS = ("purchase", "handover", "open_daily")
NEVER = np.iinfo(np.int64).max // 4  # "not (yet) happened", far beyond any real time
DAY = 86_400


def seconds(values: pd.Series | pd.DatetimeIndex) -> np.ndarray:
    """UTC times as int64 seconds since the epoch (floored); NaT becomes `NEVER`."""
    instants = pd.Series(values).to_numpy(dtype="datetime64[ns]")  # UTC, naive
    return np.where(np.isnat(instants), NEVER, instants.view(np.int64) // 1_000_000_000)


def promise_end(orders: pd.DataFrame) -> np.ndarray:
    """End of the promised day (midnight UTC after it), in seconds."""
    return seconds(orders["promised_date"]) + DAY


def first_event_times(orders: pd.DataFrame, events: pd.DataFrame, event_type: str) -> np.ndarray:
    """Per order (in `orders` order), the first time of `event_type`, or `NEVER`."""
    out = np.full(len(orders), NEVER, np.int64)
    chosen = (events["event_type"] == event_type).to_numpy(bool)
    if not chosen.any():
        return out
    ids = pd.Index(orders["order_id"])
    if not ids.is_unique:  # a table with repeated ids (never a validated one): by id, slowly
        first = events[chosen].groupby("order_id", sort=False)["time"].min()
        return seconds(orders["order_id"].map(first))
    position = ids.get_indexer(events["order_id"].to_numpy()[chosen])
    found = position >= 0
    # the earliest time per order; whole seconds, as `seconds` gives (flooring keeps the order)
    np.minimum.at(out, position[found], seconds(events["time"][chosen])[found])
    return out


def delivery_times(orders: pd.DataFrame, events: pd.DataFrame) -> np.ndarray:
    """When each order was delivered (the earlier of delivered_at and a delivered event)."""
    return np.minimum(
        seconds(orders["delivered_at"]), first_event_times(orders, events, "delivered")
    )


def late_labels(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    *,
    horizon: pd.Timestamp | None = None,
    lost_after_days: float = 30.0,
) -> np.ndarray:
    """1.0 late, 0.0 on time, NaN unknown (canceled, or still open at the horizon).

    `horizon` is the end of the data (default: the latest time found in the tables).
    """
    delivered = delivery_times(orders, events)
    end = promise_end(orders)
    if horizon is None:
        horizon_s = max(
            int(seconds(orders["purchased_at"]).max()),
            int(delivered[delivered < NEVER].max(initial=0)),
            int(seconds(events["time"]).max()) if len(events) else 0,
        )
    else:
        horizon_s = int(pd.Timestamp(horizon).timestamp())
    labels = np.full(len(orders), np.nan)
    done = delivered < NEVER
    labels[done] = (delivered[done] >= end[done]).astype(float)
    lost = ~done & (end + lost_after_days * DAY <= horizon_s)
    labels[lost] = 1.0
    labels[orders["canceled"].to_numpy(bool)] = np.nan
    return labels


def lateness_days(orders: pd.DataFrame, events: pd.DataFrame, labels: np.ndarray) -> np.ndarray:
    """How late each order of known outcome (`labels` from `late_labels`) was, in days from the
    end of its promised day to its delivery: negative when early, positive (late) from zero on;
    +inf for a late order never delivered (lost); NaN where the label is.

    The sign agrees with the label: ``labels == (lateness >= 0)`` wherever both are known.
    """
    delivered = delivery_times(orders, events)
    days = np.where(np.isnan(labels), np.nan, (delivered - promise_end(orders)) / DAY)
    return np.where((labels == 1) & (delivered >= NEVER), np.inf, days)


def decision_snapshots(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    points: tuple[str, ...] = DECISION_POINTS,
    *,
    until: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """Snapshots ``row`` (position in `orders`), ``order_id``, ``point``, ``as_of`` (UTC).

    Only while the order is open and before its promise ends, and not after `until`.
    """
    unknown = set(points) - set(DECISION_POINTS)
    if unknown:
        raise ValueError(f"unknown decision points {sorted(unknown)}")
    purchase = seconds(orders["purchased_at"])
    stop = np.minimum(delivery_times(orders, events), promise_end(orders))
    if until is not None:
        stop = np.minimum(stop, int(pd.Timestamp(until).timestamp()) + 1)
    rows, times, kinds = [], [], []
    if "purchase" in points:
        ok = np.flatnonzero(purchase < stop)
        rows.append(ok)
        times.append(purchase[ok])
        kinds.append(np.zeros(len(ok), np.int8))
    if "handover" in points:
        pickup = first_event_times(orders, events, "picked_up")
        ok = np.flatnonzero((pickup >= purchase) & (pickup < stop))
        rows.append(ok)
        times.append(pickup[ok])
        kinds.append(np.ones(len(ok), np.int8))
    if "open_daily" in points:
        first = (purchase // DAY + 1) * DAY
        count = np.where(stop > first, (stop - first - 1) // DAY + 1, 0)
        count = np.clip(count, 0, 400)
        row = np.repeat(np.arange(len(orders)), count)
        offset = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
        rows.append(row)
        times.append(first[row] + offset * DAY)
        kinds.append(np.full(len(row), 2, np.int8))
    row = np.concatenate(rows) if rows else np.zeros(0, np.int64)
    time = np.concatenate(times) if times else np.zeros(0, np.int64)
    kind = np.concatenate(kinds) if kinds else np.zeros(0, np.int8)
    order = np.lexsort((kind, time))
    return pd.DataFrame(
        {
            "row": row[order],
            "order_id": orders["order_id"].to_numpy()[row[order]],
            "point": pd.Categorical.from_codes(kind[order], DECISION_POINTS),
            "as_of": pd.to_datetime(time[order], unit="s", utc=True),
        }
    )


def censor(
    orders: pd.DataFrame, events: pd.DataFrame, at: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The tables as known at `at`: later purchases, events and deliveries removed.

    `canceled` has no time in the schema and is kept: no feature reads it (it only removes
    orders from the labels and from scoring), as the no-leakage test checks.
    """
    at = pd.Timestamp(at)
    at = at.tz_localize("UTC") if at.tzinfo is None else at.tz_convert("UTC")
    orders = orders[orders["purchased_at"] <= at].copy()
    orders["delivered_at"] = orders["delivered_at"].where(orders["delivered_at"] <= at)
    events = events[(events["time"] <= at) & events["order_id"].isin(orders["order_id"])]
    return orders.reset_index(drop=True), events.reset_index(drop=True)
