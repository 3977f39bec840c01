"""As-of features: what was known about an order, its seller, lane and carrier at a given time.

`OrderFeatures(orders, events)` indexes the tables once; `.build(rows, as_of)` returns one row of
features per snapshot ``(order position, time)``, vectorized. Every time-dependent value is
read through a search for "at or before ``as_of``":

- the order's own facts known at purchase (promise, deadline, route, parcel, price);
- its tracking so far: events at or before ``as_of`` only (hand-over done, last event, gaps);
- history from *other* orders' outcomes, each known at its own time: an on-time order at its
  delivery, a late one when its promised day ended undelivered. So an order's lateness enters
  the history at the moment anyone could have known it, never at its final delivery time.

Nothing reads `delivered_at`, a ``delivered`` event or `canceled` except through those "known at"
times. tests/test_orders_leakage.py proves it by rebuilding features on censored and perturbed
tables.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from triage.orders.schema import EVENT_TYPES
from triage.orders.snapshots import (
    DAY,
    NEVER,
    delivery_times,
    first_event_times,
    promise_end,
    seconds,
)

__all__ = ["CATEGORICAL", "FEATURES", "NUMERIC", "OrderFeatures", "build_features"]

CATEGORICAL = (
    "carrier",
    "service_level",
    "seller_region",
    "buyer_region",
    "category",
    "last_event",
)
NUMERIC = (
    # known at purchase
    "promised_days",
    "ship_by_days",
    "purchase_dow",
    "purchase_hour",
    "n_items",
    "weight_kg",
    "price",
    "freight",
    "freight_ratio",
    "distance_km",
    "same_region",
    # the order's own progress
    "elapsed_days",
    "days_left",
    "frac_elapsed",
    "handed_over",
    "handover_days",
    "days_since_handover",
    "ship_by_slack",
    "label_created",
    "n_events",
    "n_scans",
    "n_exceptions",
    "days_since_last_event",
    # history of other orders, as known then
    "seller_orders",
    "seller_late_rate",
    "seller_handling_days",
    "lane_orders",
    "lane_late_rate",
    "carrier_late_rate_14d",
    "region_late_rate_7d",
    "platform_late_rate_7d",
    "platform_late_rate_28d",
    "lane_transit_days",
    "expected_remaining_days",
    "slack_days",
    "volume_ratio_7d",
    "transit_ratio_7d",
    "transit_exceed_prob",
    "late_given_open_rate",
)
FEATURES = NUMERIC + CATEGORICAL
SPAN = np.int64(1) << np.int64(34)  # seconds per key block in the combined sort key (~544 years)
PRIOR_WEIGHT = 5.0  # pseudo-orders behind smoothed rates
TRANSIT_GRID = np.array(
    [
        0,
        0.5,
        1,
        1.5,
        2,
        2.5,
        3,
        4,
        5,
        6,
        7,
        8,
        9,
        10,
        12,
        14,
        16,
        18,
        20,
        23,
        26,
        30,
        35,
        40,
        50,
        60.0,
    ]
)
FRACTION_GRID = np.linspace(0.0, 1.0, 21)


class _AsOf:
    """Counts and sums of timed values per key, queried "at or before t" by binary search."""

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray, origin: int):
        known = times < NEVER
        keys, times, values = keys[known], times[known], values[known].astype(float)
        order = np.lexsort((times, keys))
        self.keys = keys[order].astype(np.int64)
        self.origin = origin
        self.combined = self.keys * SPAN + np.clip(times[order] - origin, 0, SPAN - 1)
        self.cumsum = np.concatenate([[0.0], np.cumsum(values[order])])

    def query(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = keys.astype(np.int64)
        start = np.searchsorted(self.keys, keys, side="left")
        stamp = keys * SPAN + np.clip(times - self.origin, 0, SPAN - 1)
        stop = np.searchsorted(self.combined, stamp, side="right")
        return (stop - start).astype(float), self.cumsum[stop] - self.cumsum[start]


class _Exceedance:
    """Per key, how many values known at or before t lie above each point of a grid.

    Reads an empirical survival function S(x) = P(value > x) as it stood at t, with x rounded
    down to the grid. Each value is spread over the grid once, so queries stay binary searches.
    """

    def __init__(
        self, keys: np.ndarray, times: np.ndarray, values: np.ndarray, grid: np.ndarray, origin: int
    ):
        known = times < NEVER
        keys, times, values = keys[known].astype(np.int64), times[known], values[known]
        self.grid = grid
        k = len(grid)
        spread_keys = (keys[:, None] * k + np.arange(k)[None, :]).ravel()
        above = (values[:, None] > grid[None, :]).ravel()
        self.hist = _AsOf(spread_keys, np.repeat(times, k), above, origin)

    def survival(
        self, keys: np.ndarray, times: np.ndarray, x: np.ndarray, prior: np.ndarray | float
    ) -> np.ndarray:
        """Smoothed S(x) per query: (values above x + w * prior) / (values + w)."""
        k = len(self.grid)
        index = np.clip(np.searchsorted(self.grid, x, side="right") - 1, 0, k - 1)
        n, above = self.hist.query(keys.astype(np.int64) * k + index, times)
        return (above + 2.0 * prior) / (n + 2.0)


def _codes(values: pd.Series) -> np.ndarray:
    return pd.factorize(values.astype(str), sort=False)[0].astype(np.int64)


def _rate(late: np.ndarray, n: np.ndarray, prior: np.ndarray | float) -> np.ndarray:
    return (late + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


class OrderFeatures:
    """Feature builder over one pair of order and event tables (validated, canonical)."""

    def __init__(self, orders: pd.DataFrame, events: pd.DataFrame):
        self.orders = orders
        n = len(orders)
        self.purchase = seconds(orders["purchased_at"])
        self.promise_end = promise_end(orders)
        self.ship_by = seconds(orders["ship_by"])
        self.pickup = first_event_times(orders, events, "picked_up")
        self.label = first_event_times(orders, events, "label_created")
        origin = int(self.purchase.min()) - 400 * DAY
        self.origin = origin

        # own tracking events, keyed by order position
        position = pd.Series(np.arange(n), index=orders["order_id"].to_numpy())
        event_row = position.reindex(events["order_id"].to_numpy()).to_numpy()
        keep = ~np.isnan(event_row)
        event_row = event_row[keep].astype(np.int64)
        event_time = seconds(events["time"])[keep]
        event_kind = pd.Categorical(
            events["event_type"].to_numpy()[keep], categories=EVENT_TYPES
        ).codes
        order = np.lexsort((event_time, event_row))
        self.event_row = event_row[order]
        self.event_time = event_time[order]
        self.event_kind = event_kind[order]
        self.event_combined = self.event_row * SPAN + np.clip(self.event_time - origin, 0, SPAN - 1)
        self.cum_exceptions = np.concatenate(
            [[0], np.cumsum(self.event_kind == EVENT_TYPES.index("exception"))]
        )
        self.cum_scans = np.concatenate(
            [[0], np.cumsum(self.event_kind == EVENT_TYPES.index("in_transit"))]
        )

        # outcomes as they became known: on time at delivery, late when the promise ended
        delivered = delivery_times(orders, events)
        late = delivered >= self.promise_end
        known_at = np.where(late, self.promise_end, delivered)
        self.seller_key = _codes(orders["seller_id"])
        self.lane_key = _codes(
            orders["seller_region"] + ">" + orders["buyer_region"] + "|" + orders["carrier"]
        )
        self.carrier_key = _codes(orders["carrier"])
        self.region_key = _codes(orders["buyer_region"])
        zeros = np.zeros(n, np.int64)
        self.seller_hist = _AsOf(self.seller_key, known_at, late, origin)
        self.lane_hist = _AsOf(self.lane_key, known_at, late, origin)
        self.carrier_hist = _AsOf(self.carrier_key, known_at, late, origin)
        self.region_hist = _AsOf(self.region_key, known_at, late, origin)
        self.platform_hist = _AsOf(zeros, known_at, late, origin)
        handling = np.where(self.pickup < NEVER, (self.pickup - self.purchase) / DAY, 0.0)
        self.seller_handling = _AsOf(self.seller_key, self.pickup, handling, origin)
        self.platform_handling = _AsOf(zeros, self.pickup, handling, origin)
        # carrier transit (hand-over to delivery) of delivered orders, known at their delivery
        moved = (delivered < NEVER) & (self.pickup <= delivered)
        transit = np.where(moved, (delivered - self.pickup) / DAY, 0.0)
        transit_known = np.where(moved, delivered, NEVER)
        self.lane_transit = _AsOf(self.lane_key, transit_known, transit, origin)
        self.region_transit = _AsOf(self.region_key, transit_known, transit, origin)
        self.platform_transit = _AsOf(zeros, transit_known, transit, origin)
        self.purchases_sorted = np.sort(self.purchase)
        transit_value = np.where(moved, transit, np.nan)
        self.region_exceed = _Exceedance(
            self.region_key, transit_known, transit_value, TRANSIT_GRID, origin
        )
        self.platform_exceed = _Exceedance(
            zeros, transit_known, transit_value, TRANSIT_GRID, origin
        )
        # share of the promise used before delivery; late orders count as "more than all of it"
        used = np.where(
            late,
            np.inf,
            (delivered - self.purchase) / np.maximum(self.promise_end - self.purchase, 1),
        )
        self.region_used = _Exceedance(self.region_key, known_at, used, FRACTION_GRID, origin)
        self.platform_used = _Exceedance(zeros, known_at, used, FRACTION_GRID, origin)

        # static columns, known at purchase
        purchased = orders["purchased_at"]
        self.static = pd.DataFrame(
            {
                "promised_days": (self.promise_end - self.purchase) / DAY,
                "ship_by_days": np.where(
                    self.ship_by < NEVER, (self.ship_by - self.purchase) / DAY, np.nan
                ),
                "purchase_dow": purchased.dt.day_of_week.to_numpy(float),
                "purchase_hour": purchased.dt.hour.to_numpy(float),
                "n_items": orders["n_items"].to_numpy(float),
                "weight_kg": orders["weight_kg"].to_numpy(float),
                "price": orders["price"].to_numpy(float),
                "freight": orders["freight"].to_numpy(float),
                "freight_ratio": (
                    orders["freight"] / orders["price"].where(orders["price"] > 0)
                ).to_numpy(float),
                "distance_km": orders["distance_km"].to_numpy(float),
                "same_region": np.where(
                    (orders["seller_region"] == "unknown") | (orders["buyer_region"] == "unknown"),
                    np.nan,
                    (orders["seller_region"] == orders["buyer_region"]).to_numpy(float),
                ),
            }
        )
        self.static_arrays = {c: self.static[c].to_numpy() for c in self.static.columns}
        self.categorical = {c: orders[c].to_numpy(object) for c in CATEGORICAL if c != "last_event"}

    def build(self, rows: np.ndarray, as_of: np.ndarray | pd.Series) -> pd.DataFrame:
        """Features of orders at positions `rows` as known at `as_of` (UTC times or seconds)."""
        rows = np.asarray(rows, dtype=np.int64)
        t = (
            as_of
            if isinstance(as_of, np.ndarray) and as_of.dtype == np.int64
            else seconds(pd.Series(as_of))
        )
        # a dict of arrays, turned into one frame at the end (column inserts are slow)
        out = {column: values[rows] for column, values in self.static_arrays.items()}
        purchase, end = self.purchase[rows], self.promise_end[rows]
        elapsed = (t - purchase) / DAY
        out["elapsed_days"] = elapsed
        out["days_left"] = (end - t) / DAY
        out["frac_elapsed"] = elapsed / np.maximum((end - purchase) / DAY, 0.5)
        pickup = self.pickup[rows]
        handed = pickup <= t
        out["handed_over"] = handed.astype(float)
        out["handover_days"] = np.where(handed, (pickup - purchase) / DAY, np.nan)
        out["days_since_handover"] = np.where(handed, (t - pickup) / DAY, np.nan)
        ship_by = self.ship_by[rows]
        out["ship_by_slack"] = np.where(
            ship_by >= NEVER, np.nan, np.where(handed, ship_by - pickup, ship_by - t) / DAY
        )
        out["label_created"] = (self.label[rows] <= t).astype(float)

        # own events at or before t
        start = np.searchsorted(self.event_row, rows, side="left")
        stop = np.searchsorted(
            self.event_combined, rows * SPAN + np.clip(t - self.origin, 0, SPAN - 1), side="right"
        )
        count = stop - start
        has = count > 0
        last = np.where(has, stop - 1, 0)
        last_time = np.where(has, self.event_time[last] if len(self.event_time) else 0, purchase)
        out["n_events"] = count.astype(float)
        out["n_scans"] = (self.cum_scans[stop] - self.cum_scans[start]).astype(float)
        out["n_exceptions"] = (self.cum_exceptions[stop] - self.cum_exceptions[start]).astype(float)
        out["days_since_last_event"] = (t - last_time) / DAY
        kinds = np.asarray(EVENT_TYPES + ("none",), dtype=object)
        last_kind = np.where(
            has, self.event_kind[last] if len(self.event_kind) else 0, len(EVENT_TYPES)
        )
        last_event = kinds[last_kind]

        # history known at t
        n_all, late_all = self.platform_hist.query(np.zeros(len(rows), np.int64), t)
        platform_rate = _rate(late_all, n_all, 0.1)
        n, late = self.seller_hist.query(self.seller_key[rows], t)
        out["seller_orders"] = n
        out["seller_late_rate"] = _rate(late, n, platform_rate)
        n_h, sum_h = self.seller_handling.query(self.seller_key[rows], t)
        n_p, sum_p = self.platform_handling.query(np.zeros(len(rows), np.int64), t)
        platform_handling = (sum_p + 2.0 * PRIOR_WEIGHT) / (n_p + PRIOR_WEIGHT)
        out["seller_handling_days"] = (sum_h + PRIOR_WEIGHT * platform_handling) / (
            n_h + PRIOR_WEIGHT
        )
        n, late = self.lane_hist.query(self.lane_key[rows], t)
        out["lane_orders"] = n
        out["lane_late_rate"] = _rate(late, n, platform_rate)
        out["carrier_late_rate_14d"] = self._window(
            self.carrier_hist, self.carrier_key[rows], t, 14, platform_rate
        )
        out["region_late_rate_7d"] = self._window(
            self.region_hist, self.region_key[rows], t, 7, platform_rate
        )
        zeros = np.zeros(len(rows), np.int64)
        out["platform_late_rate_7d"] = self._window(self.platform_hist, zeros, t, 7, platform_rate)
        out["platform_late_rate_28d"] = self._window(
            self.platform_hist, zeros, t, 28, platform_rate
        )

        # expected remaining time from the seller's habit and the lane's transit so far
        n_t, sum_t = self.platform_transit.query(zeros, t)
        platform_transit = (sum_t + 3.0 * PRIOR_WEIGHT) / (n_t + PRIOR_WEIGHT)
        n_t, sum_t = self.region_transit.query(self.region_key[rows], t)
        region_transit = (sum_t + PRIOR_WEIGHT * platform_transit) / (n_t + PRIOR_WEIGHT)
        n_t, sum_t = self.lane_transit.query(self.lane_key[rows], t)
        lane_transit = (sum_t + PRIOR_WEIGHT * region_transit) / (n_t + PRIOR_WEIGHT)
        out["lane_transit_days"] = lane_transit
        since = np.asarray(out["days_since_handover"])
        remaining = np.where(
            handed,
            np.maximum(lane_transit - np.nan_to_num(since), 0.0),
            np.maximum(np.asarray(out["seller_handling_days"]) - elapsed, 0.0) + lane_transit,
        )
        out["expected_remaining_days"] = remaining
        out["slack_days"] = np.asarray(out["days_left"]) - remaining

        # platform load: purchases of the last week against the four before, and how slow the
        # deliveries of the last week were against all deliveries so far
        count = lambda a, b: (  # noqa: E731 - purchases in (a, b]
            np.searchsorted(self.purchases_sorted, b, side="right")
            - np.searchsorted(self.purchases_sorted, a, side="right")
        )
        week = count(t - 7 * DAY, t).astype(float)
        month = count(t - 35 * DAY, t - 7 * DAY).astype(float)
        out["volume_ratio_7d"] = (week + 1.0) / (month / 4.0 + 1.0)
        n_week, sum_week = self.platform_transit.query(zeros, t)
        n_old, sum_old = self.platform_transit.query(zeros, t - 7 * DAY)
        recent = (sum_week - sum_old + PRIOR_WEIGHT * platform_transit) / (
            n_week - n_old + PRIOR_WEIGHT
        )
        out["transit_ratio_7d"] = recent / platform_transit

        # P(transit longer than the time left | as long as it has lasted), to this destination
        region = self.region_key[rows]
        days_left = np.maximum(np.asarray(out["days_left"]), 0.0)
        since_pickup = np.where(handed, np.nan_to_num(since), 0.0)
        handling_left = np.where(
            handed, 0.0, np.maximum(np.asarray(out["seller_handling_days"]) - elapsed, 0.0)
        )
        need = since_pickup + np.maximum(days_left - handling_left, 0.0)

        def transit_survival(x: np.ndarray) -> np.ndarray:
            platform = self.platform_exceed.survival(zeros, t, x, 0.5)
            return self.region_exceed.survival(region, t, x, platform)

        out["transit_exceed_prob"] = np.clip(
            transit_survival(need) / np.maximum(transit_survival(since_pickup), 1e-3), 0, 1
        )
        # late share of earlier orders that were still open at this share of their promise
        used_now = np.clip(np.asarray(out["frac_elapsed"]), 0.0, 1.0)

        def used_survival(x: np.ndarray | float) -> np.ndarray:
            x = np.broadcast_to(np.asarray(x, dtype=float), t.shape)
            platform = self.platform_used.survival(zeros, t, x, 0.5)
            return self.region_used.survival(region, t, x, platform)

        out["late_given_open_rate"] = np.clip(
            used_survival(1.0) / np.maximum(used_survival(used_now), 1e-3), 0, 1
        )

        for column, values in self.categorical.items():
            out[column] = values[rows]
        out["last_event"] = last_event
        return pd.DataFrame(out, columns=list(FEATURES))

    @staticmethod
    def _window(
        hist: _AsOf, keys: np.ndarray, t: np.ndarray, days: int, prior: np.ndarray
    ) -> np.ndarray:
        n_now, late_now = hist.query(keys, t)
        n_then, late_then = hist.query(keys, t - days * DAY)
        return _rate(late_now - late_then, n_now - n_then, prior)


def build_features(
    orders: pd.DataFrame, events: pd.DataFrame, snapshots: pd.DataFrame
) -> pd.DataFrame:
    """Features of `snapshots` (columns ``row`` and ``as_of``) over these tables."""
    return OrderFeatures(orders, events).build(snapshots["row"].to_numpy(), snapshots["as_of"])
