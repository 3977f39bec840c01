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

from collections.abc import Callable

import numpy as np
import pandas as pd

from triage.errors import InputError
from triage.orders.data.fields import EVENT_TYPES, UNKNOWN
from triage.orders.risk.history import (
    FRACTION_GRID,
    TRANSIT_GRID,
    History,
    HistoryView,
    Ledger,
    Vocabulary,
    stamp,
)
from triage.orders.risk.snapshots import DAY, NEVER, promise_end, seconds

__all__ = [
    "CATEGORICAL",
    "FEATURES",
    "FULL_MODEL",
    "NUMERIC",
    "ORDER_ONLY",
    "PLATFORM_ONLY",
    "OrderFeatures",
    "bare_rows",
    "check_columns",
    "build_features",
]

CATEGORICAL = (
    "carrier",
    "service_level",
    "seller_region",
    "buyer_region",
    "category",
    "last_event",
)
#: history figures of the whole platform that the seller, lane and region figures of NUMERIC refine
#: (their priors): read by the fallback of RiskModel, which has no seller, lane or region, and
#: not by the full model, where they won nothing out of time (docs/BENCHMARKS.md)
PLATFORM_ONLY = (
    "platform_orders",
    "platform_late_rate",
    "platform_handling_days",
    "platform_transit_days",
    "platform_remaining_days",
    "platform_slack_days",
    "platform_exceed_prob",
    "platform_late_given_open",
)
#: the order's own progress and tracking, from its purchase, promise and events alone
PROGRESS = (
    "elapsed_days",
    "days_left",
    "frac_elapsed",
    "handed_over",
    "handover_days",
    "days_since_handover",
)
TRACKING = ("label_created", "n_events", "n_scans", "n_exceptions", "days_since_last_event")
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
    *PROGRESS,
    "ship_by_slack",
    *TRACKING,
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
    # the same from the whole platform's history alone
    *PLATFORM_ONLY,
)
FEATURES = NUMERIC + CATEGORICAL
#: what RiskModel reads by default: every feature but PLATFORM_ONLY
FULL_MODEL = tuple(c for c in FEATURES if c not in PLATFORM_ONLY)
#: the features built from an order's required fields (purchase time, promised date), its own
#: tracking events and the whole platform's history alone: the same whether or not the order
#: came with its optional fields (seller, buyer, items, carrier). An order imported without
#: them (Olist's orders table alone) is scored on these (RiskModel's fallback).
#: tests/test_orders_risk_fallback.py blanks the optional fields and checks every one.
ORDER_ONLY = (
    "promised_days",
    "purchase_dow",
    "purchase_hour",
    *PROGRESS,
    *TRACKING,
    "platform_late_rate_7d",
    "platform_late_rate_28d",
    "volume_ratio_7d",
    "transit_ratio_7d",
    *PLATFORM_ONLY,
    "last_event",
)
#: blank in the features of an order that came without any optional field: its numbers are
#: missing and its texts "unknown" (and n_items 1, the count's default)
BLANK_NUMBERS = ("ship_by_days", "weight_kg", "price", "freight", "distance_km")
BLANK_TEXTS = ("carrier", "service_level", "seller_region", "buyer_region", "category")
PRIOR_WEIGHT = 5.0  # pseudo-orders behind smoothed rates


def _rate(late: np.ndarray, n: np.ndarray, prior: np.ndarray | float) -> np.ndarray:
    return (late + PRIOR_WEIGHT * prior) / (n + PRIOR_WEIGHT)


class OrderFeatures:
    """Feature builder over one pair of order and event tables (validated, canonical).

    The seller, lane and platform history comes from the same tables unless `history` is given
    (a `HistoryView` with codes from `vocabulary`, or a function of these orders' `Ledger`
    returning one): triage.orders.risk.history_cache passes the stored orders' history so that
    only the orders scored need indexing.
    """

    def __init__(
        self,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        *,
        history: HistoryView | Callable[[Ledger], HistoryView] | None = None,
        vocabulary: Vocabulary | None = None,
    ):
        if (history is None) != (vocabulary is None):
            raise ValueError("give both history and vocabulary, or neither")
        self.orders = orders
        n = len(orders)
        self.purchase = seconds(orders["purchased_at"])
        self.promise_end = promise_end(orders)
        self.ship_by = seconds(orders["ship_by"])

        # own tracking events, keyed by order position: the events' ids looked up once (object
        # indexes: pandas would otherwise turn the ids into its string type first)
        ids = pd.Index(orders["order_id"].to_numpy(object), dtype=object)
        found = ids.get_indexer(pd.Index(events["order_id"].to_numpy(object), dtype=object))
        keep = found >= 0
        event_row = found[keep]
        event_time = seconds(events["time"])[keep]
        event_kind = pd.Index(EVENT_TYPES, dtype=object).get_indexer(
            pd.Index(events["event_type"].to_numpy(object)[keep], dtype=object)
        )
        # the first time of a kind per order: what first_event_times gives
        firsts = {}
        for kind in ("picked_up", "label_created", "delivered"):
            first = np.full(n, NEVER, np.int64)
            chosen = event_kind == EVENT_TYPES.index(kind)
            np.minimum.at(first, event_row[chosen], event_time[chosen])
            firsts[kind] = first
        self.pickup, self.label = firsts["picked_up"], firsts["label_created"]
        order = np.lexsort((event_time, event_row))
        self.event_row = event_row[order]
        self.event_time = event_time[order]
        self.event_kind = event_kind[order]
        self.event_combined = stamp(self.event_row, self.event_time)
        self.cum_exceptions = np.concatenate(
            [[0], np.cumsum(self.event_kind == EVENT_TYPES.index("exception"))]
        )
        self.cum_scans = np.concatenate(
            [[0], np.cumsum(self.event_kind == EVENT_TYPES.index("in_transit"))]
        )

        # keys of these orders and, unless given, the history of other orders' outcomes
        vocabulary = vocabulary or Vocabulary()
        ledger = Ledger.from_tables(
            orders, events, vocabulary, pickup=self.pickup, delivered_event=firsts["delivered"]
        )
        self.seller_key, self.lane_key = ledger.seller, ledger.lane
        self.carrier_key, self.region_key = ledger.carrier, ledger.region
        if history is None:
            history = History(ledger)
        elif not isinstance(history, HistoryView):  # made with these orders' own ledger
            history = history(ledger)
        self.history: HistoryView = history

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

    def _count(self, name: str, keys: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        n, total = self.history.count(name, keys, t)
        return n.astype(float), total.astype(float)

    def _survival(
        self,
        name: str,
        grid: np.ndarray,
        keys: np.ndarray,
        t: np.ndarray,
        x: np.ndarray,
        prior: np.ndarray | float,
    ) -> np.ndarray:
        """Smoothed share of the facts `name` known by `t` that lie above `x` (rounded down to
        the grid): (above + 2 * prior) / (facts + 2)."""
        k = len(grid)
        index = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, k - 1)
        n, above = self._count(name, keys.astype(np.int64) * k + index, t)
        return (above + 2.0 * prior) / (n + 2.0)

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
        stop = np.searchsorted(self.event_combined, stamp(rows, t), side="right")
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

        # history known at t (handling and transit sums are in seconds)
        zeros = np.zeros(len(rows), np.int64)
        n_all, late_all = self._count("outcome_platform", zeros, t)
        platform_rate = _rate(late_all, n_all, 0.1)
        out["platform_orders"] = n_all
        out["platform_late_rate"] = platform_rate
        n, late = self._count("outcome_seller", self.seller_key[rows], t)
        out["seller_orders"] = n
        out["seller_late_rate"] = _rate(late, n, platform_rate)
        n_h, sum_h = self._count("handling_seller", self.seller_key[rows], t)
        n_p, sum_p = self._count("handling_platform", zeros, t)
        platform_handling = (sum_p / DAY + 2.0 * PRIOR_WEIGHT) / (n_p + PRIOR_WEIGHT)
        out["seller_handling_days"] = (sum_h / DAY + PRIOR_WEIGHT * platform_handling) / (
            n_h + PRIOR_WEIGHT
        )
        n, late = self._count("outcome_lane", self.lane_key[rows], t)
        out["lane_orders"] = n
        out["lane_late_rate"] = _rate(late, n, platform_rate)
        out["carrier_late_rate_14d"] = self._window(
            "outcome_carrier", self.carrier_key[rows], t, 14, platform_rate
        )
        out["region_late_rate_7d"] = self._window(
            "outcome_region", self.region_key[rows], t, 7, platform_rate
        )
        out["platform_late_rate_7d"] = self._window("outcome_platform", zeros, t, 7, platform_rate)
        out["platform_late_rate_28d"] = self._window(
            "outcome_platform", zeros, t, 28, platform_rate
        )

        # expected remaining time from the seller's habit and the lane's transit so far
        n_t, sum_t = self._count("transit_platform", zeros, t)
        platform_transit = (sum_t / DAY + 3.0 * PRIOR_WEIGHT) / (n_t + PRIOR_WEIGHT)
        n_t, sum_t = self._count("transit_region", self.region_key[rows], t)
        region_transit = (sum_t / DAY + PRIOR_WEIGHT * platform_transit) / (n_t + PRIOR_WEIGHT)
        n_t, sum_t = self._count("transit_lane", self.lane_key[rows], t)
        lane_transit = (sum_t / DAY + PRIOR_WEIGHT * region_transit) / (n_t + PRIOR_WEIGHT)
        out["lane_transit_days"] = lane_transit
        since = np.asarray(out["days_since_handover"])

        def remaining(handling: np.ndarray, transit: np.ndarray) -> np.ndarray:
            """Days still to go: the transit left once handed over, else the handling left and
            the whole transit."""
            return np.where(
                handed,
                np.maximum(transit - np.nan_to_num(since), 0.0),
                np.maximum(handling - elapsed, 0.0) + transit,
            )

        left = remaining(np.asarray(out["seller_handling_days"]), lane_transit)
        out["expected_remaining_days"] = left
        out["slack_days"] = np.asarray(out["days_left"]) - left
        out["platform_handling_days"] = platform_handling
        out["platform_transit_days"] = platform_transit
        left = remaining(platform_handling, platform_transit)
        out["platform_remaining_days"] = left
        out["platform_slack_days"] = np.asarray(out["days_left"]) - left

        # platform load: purchases of the last week against the four before, and how slow the
        # deliveries of the last week were against all deliveries so far
        week = self.history.purchases(t - 7 * DAY, t).astype(float)
        month = self.history.purchases(t - 35 * DAY, t - 7 * DAY).astype(float)
        out["volume_ratio_7d"] = (week + 1.0) / (month / 4.0 + 1.0)
        n_week, sum_week = self.history.count("transit_platform", zeros, t)
        n_old, sum_old = self.history.count("transit_platform", zeros, t - 7 * DAY)
        recent = ((sum_week - sum_old) / DAY + PRIOR_WEIGHT * platform_transit) / (
            (n_week - n_old) + PRIOR_WEIGHT
        )
        out["transit_ratio_7d"] = recent / platform_transit

        # P(transit longer than the time left | as long as it has lasted), to this destination
        region = self.region_key[rows]
        days_left = np.maximum(np.asarray(out["days_left"]), 0.0)
        since_pickup = np.where(handed, np.nan_to_num(since), 0.0)

        def handling_left(days: np.ndarray) -> np.ndarray:
            return np.where(handed, 0.0, np.maximum(days - elapsed, 0.0))

        need = since_pickup + np.maximum(
            days_left - handling_left(np.asarray(out["seller_handling_days"])), 0.0
        )

        def transit_survival(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            platform = self._survival("exceed_platform", TRANSIT_GRID, zeros, t, x, 0.5)
            return platform, self._survival("exceed_region", TRANSIT_GRID, region, t, x, platform)

        (_, region_need), (platform_since, region_since) = (
            transit_survival(need),
            transit_survival(since_pickup),
        )
        out["transit_exceed_prob"] = np.clip(region_need / np.maximum(region_since, 1e-3), 0, 1)
        # the same with the platform's handling time and transit times alone
        need = since_pickup + np.maximum(days_left - handling_left(platform_handling), 0.0)
        platform_need = self._survival("exceed_platform", TRANSIT_GRID, zeros, t, need, 0.5)
        out["platform_exceed_prob"] = np.clip(
            platform_need / np.maximum(platform_since, 1e-3), 0, 1
        )
        # late share of earlier orders that were still open at this share of their promise
        used_now = np.clip(np.asarray(out["frac_elapsed"]), 0.0, 1.0)

        def used_survival(x: np.ndarray | float) -> tuple[np.ndarray, np.ndarray]:
            x = np.broadcast_to(np.asarray(x, dtype=float), t.shape)
            platform = self._survival("used_platform", FRACTION_GRID, zeros, t, x, 0.5)
            return platform, self._survival("used_region", FRACTION_GRID, region, t, x, platform)

        (platform_end, region_end), (platform_now, region_now) = (
            used_survival(1.0),
            used_survival(used_now),
        )
        out["late_given_open_rate"] = np.clip(region_end / np.maximum(region_now, 1e-3), 0, 1)
        out["platform_late_given_open"] = np.clip(
            platform_end / np.maximum(platform_now, 1e-3), 0, 1
        )

        for column, values in self.categorical.items():
            out[column] = values[rows]
        out["last_event"] = last_event
        return pd.DataFrame(out, columns=list(FEATURES))

    def _window(
        self, name: str, keys: np.ndarray, t: np.ndarray, days: int, prior: np.ndarray
    ) -> np.ndarray:
        """Smoothed late rate of the outcomes known in the `days` before `t`."""
        n_now, late_now = self.history.count(name, keys, t)
        n_then, late_then = self.history.count(name, keys, t - days * DAY)
        return _rate((late_now - late_then).astype(float), (n_now - n_then).astype(float), prior)


def check_columns(columns: tuple[str, ...], X: pd.DataFrame | None = None) -> None:
    """Refuse (`InputError`) `columns` that are not risk features, or (given `X`) that the
    feature table `X` lacks: what a risk model reads is checked before it fits or scores."""
    unknown = [c for c in columns if c not in FEATURES]
    if unknown:
        raise InputError(f"not risk features: {', '.join(unknown)}")
    missing = [] if X is None else [c for c in columns if c not in X.columns]
    if missing:
        raise InputError(f"feature table lacks {', '.join(missing)}")


def bare_rows(X: pd.DataFrame) -> np.ndarray:
    """Which feature rows of `X` belong to orders that came without any optional field."""
    bare = X["n_items"].to_numpy(float) == 1
    for column in BLANK_NUMBERS:
        bare &= np.isnan(X[column].to_numpy(float))
    for column in BLANK_TEXTS:
        bare &= X[column].to_numpy(object) == UNKNOWN
    return bare


def build_features(
    orders: pd.DataFrame, events: pd.DataFrame, snapshots: pd.DataFrame
) -> pd.DataFrame:
    """Features of `snapshots` (columns ``row`` and ``as_of``) over these tables."""
    return OrderFeatures(orders, events).build(snapshots["row"].to_numpy(), snapshots["as_of"])
