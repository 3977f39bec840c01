"""History aggregates: what earlier orders' outcomes said about sellers, lanes and the platform.

The seller, lane and platform features of triage.orders.risk.features come from other orders, each
fact known at its own time (an on-time outcome at the delivery, a late one when the promised
day ended undelivered, a hand-over at the first ``picked_up`` event, a transit time at the
delivery). This module keeps those facts apart from the feature code, in three layers:

- `Vocabulary`: stable integer codes for seller, lane, carrier and region names;
- `Ledger`: one row per order with the few values its history facts come from (codes, purchase,
  promise end, delivery, hand-over), computed from that order's own record and events only;
- `History`: counts and sums of those facts per key, queried "known at or before t" by binary
  search. Every value summed is an integer (0/1 or seconds), so counts and sums are exact and
  do not depend on how the orders are grouped.

Because each order adds its own facts and nothing else, history is additive: the history of a
set of orders is the history of a larger set minus that of the orders left out, plus that of
orders added. `SignedHistory` is such a sum; triage.orders.risk.history_cache uses it to score an
order against thousands of stored ones without rebuilding their history on every request, with
exactly the values a full rebuild gives (tests/test_orders_history.py).

>>> vocabulary = Vocabulary()
>>> history = History(Ledger.from_tables(orders, events, vocabulary))      # doctest: +SKIP
>>> n, late = history.count("outcome_seller", seller_codes, times)         # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

from triage.orders.risk.snapshots import (
    DAY,
    NEVER,
    delivery_times,
    first_event_times,
    promise_end,
    seconds,
)

__all__ = [
    "FRACTION_GRID",
    "TRANSIT_GRID",
    "History",
    "HistoryView",
    "Ledger",
    "SignedHistory",
    "Vocabulary",
    "facts",
    "stamp",
]

# times go into a combined sort key ``key * SPAN + (time - ORIGIN)``: ORIGIN lies before the
# earliest time pandas can hold and SPAN (~1,089 years) past the latest, so no time is clipped
SPAN = np.int64(1) << np.int64(35)
ORIGIN = np.int64(-9_300_000_000)
TRANSIT_GRID = np.array(
    [0, 0.5, 1, 1.5, 2, 2.5, 3, 4, 5, 6, 7, 8, 9, 10, 12, 14, 16, 18, 20, 23, 26, 30, 35, 40, 50,
     60.0]
)  # fmt: skip
FRACTION_GRID = np.linspace(0.0, 1.0, 21)
KINDS = ("seller", "lane", "carrier", "region")


def stamp(keys: np.ndarray, times: np.ndarray) -> np.ndarray:
    """The combined sort key of (key, time) pairs (see SPAN and ORIGIN above)."""
    return keys * SPAN + np.clip(times - ORIGIN, 0, SPAN - 1)


class _AsOf:
    """Counts and integer sums of timed values per key, queried "at or before t"."""

    def __init__(self, keys: np.ndarray, times: np.ndarray, values: np.ndarray):
        known = times < NEVER
        keys, times = keys[known].astype(np.int64), times[known]
        values = values[known].astype(np.int64)
        order = np.lexsort((times, keys))
        self.keys = keys[order]
        self.combined = stamp(self.keys, times[order])
        self.cumsum = np.concatenate([[0], np.cumsum(values[order])]).astype(np.int64)

    def query(self, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        keys = keys.astype(np.int64)
        start = np.searchsorted(self.keys, keys, side="left")
        stop = np.searchsorted(self.combined, stamp(keys, times), side="right")
        return stop - start, self.cumsum[stop] - self.cumsum[start]


def _spread(keys: np.ndarray, values: np.ndarray, grid: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each value once per grid point: key ``key * len(grid) + i``, 1 when it lies above point i."""
    k = len(grid)
    spread = (keys[:, None].astype(np.int64) * k + np.arange(k)[None, :]).ravel()
    return spread, (values[:, None] > grid[None, :]).ravel()


class Vocabulary:
    """Integer codes for seller, lane, carrier and region names; a new name gets the next code.

    Codes only need to agree between the histories that are added up, so one vocabulary serves
    a whole cache; a one-off feature build uses its own.
    """

    def __init__(self) -> None:
        self._codes: dict[str, dict[str, int]] = {kind: {} for kind in KINDS}

    def codes(self, kind: str, values: np.ndarray) -> np.ndarray:
        known = self._codes[kind]
        # the distinct values first, then their text (not the whole column through pandas'
        # string type); a missing value is the name "nan"
        codes, uniques = pd.factorize(
            np.asarray(values, dtype=object), sort=False, use_na_sentinel=False
        )
        mapped = np.array([known.setdefault(str(name), len(known)) for name in uniques], np.int64)
        return mapped[codes] if len(mapped) else np.zeros(len(values), np.int64)

    def names(self) -> dict[str, list[str]]:
        """The names coded so far per kind, in code order: `codes` of them in that order, on a
        new vocabulary, gives the same codes (triage/scale/ merges vocabularies this way)."""
        return {kind: list(known) for kind, known in self._codes.items()}


@dataclass(frozen=True)
class Ledger:
    """Per order, what its history facts come from (one row per order, in the tables' order)."""

    order_id: np.ndarray
    purchased_ns: np.ndarray  # purchase time in nanoseconds: the history window compares it
    seller: np.ndarray
    lane: np.ndarray
    carrier: np.ndarray
    region: np.ndarray
    purchase: np.ndarray  # the times below are seconds since the epoch; NEVER: not (yet)
    promise_end: np.ndarray
    delivered: np.ndarray
    pickup: np.ndarray

    @classmethod
    def from_tables(
        cls,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        vocabulary: Vocabulary,
        *,
        pickup: np.ndarray | None = None,
        delivered_event: np.ndarray | None = None,
    ) -> Ledger:
        """The ledger of canonical `orders` with their `events` (`pickup`, `delivered_event`:
        the first ``picked_up`` and ``delivered`` times when the caller has them already)."""
        lane = (
            orders["seller_region"].astype(str)
            + ">"
            + orders["buyer_region"].astype(str)
            + "|"
            + orders["carrier"].astype(str)
        )
        return cls(
            order_id=orders["order_id"].to_numpy(object),
            purchased_ns=orders["purchased_at"].dt.as_unit("ns").astype("int64").to_numpy(),
            seller=vocabulary.codes("seller", orders["seller_id"].to_numpy(object)),
            lane=vocabulary.codes("lane", lane.to_numpy(object)),
            carrier=vocabulary.codes("carrier", orders["carrier"].to_numpy(object)),
            region=vocabulary.codes("region", orders["buyer_region"].to_numpy(object)),
            purchase=seconds(orders["purchased_at"]),
            promise_end=promise_end(orders),
            delivered=(
                delivery_times(orders, events)
                if delivered_event is None
                else np.minimum(seconds(orders["delivered_at"]), delivered_event)
            ),
            pickup=(
                pickup if pickup is not None else first_event_times(orders, events, "picked_up")
            ),
        )

    def __len__(self) -> int:
        return len(self.order_id)

    def take(self, index: np.ndarray) -> Ledger:
        """The rows at `index` (positions or a boolean mask)."""
        return Ledger(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(ledgers: Sequence[Ledger]) -> Ledger:
        return Ledger(
            **{
                f.name: np.concatenate([getattr(ledger, f.name) for ledger in ledgers])
                for f in fields(Ledger)
            }
        )

    @staticmethod
    def empty() -> Ledger:
        ints = np.zeros(0, np.int64)
        return Ledger(np.zeros(0, object), *(ints,) * 9)


def facts(
    ledger: Ledger, *, spread: bool = True
) -> Iterator[tuple[str, np.ndarray, np.ndarray, np.ndarray]]:
    """The history facts of the orders of `ledger`, as ``(name, keys, known_at, values)`` with
    one entry per order (per order and grid point for ``exceed_*`` and ``used_*``); a fact is
    known from its time on, never when that time is `NEVER`. `History` lists them (see there);
    triage/scale/ sums them per key at a few cut-off times.

    ``spread=False`` gives the ``exceed_*`` and ``used_*`` facts once per order, with the value
    the grid points are compared with (transit days; share of the promise used, ``inf`` when
    late): a sum over many orders bins them once instead of once per grid point."""
    delivered, promise, purchase, pickup = (
        ledger.delivered,
        ledger.promise_end,
        ledger.purchase,
        ledger.pickup,
    )
    late = delivered >= promise
    known_at = np.where(late, promise, delivered)
    zeros = np.zeros(len(ledger), np.int64)
    keys = {
        "seller": ledger.seller,
        "lane": ledger.lane,
        "carrier": ledger.carrier,
        "region": ledger.region,
        "platform": zeros,
    }
    handling = np.where(pickup < NEVER, pickup - purchase, 0)
    moved = (delivered < NEVER) & (pickup <= delivered)
    transit = np.where(moved, delivered - pickup, 0)
    transit_known = np.where(moved, delivered, NEVER)
    transit_days = np.where(moved, transit / DAY, np.nan)
    # share of the promise used before delivery; late orders count as "more than all of it"
    used = np.where(late, np.inf, (delivered - purchase) / np.maximum(promise - purchase, 1))

    for kind in ("seller", "lane", "carrier", "region", "platform"):
        yield f"outcome_{kind}", keys[kind], known_at, late
    for kind in ("seller", "platform"):
        yield f"handling_{kind}", keys[kind], pickup, handling
    for kind in ("lane", "region", "platform"):
        yield f"transit_{kind}", keys[kind], transit_known, transit
    for kind in ("region", "platform"):
        if not spread:
            yield f"exceed_{kind}", keys[kind], transit_known, transit_days
            yield f"used_{kind}", keys[kind], known_at, used
            continue
        spread_keys, above = _spread(keys[kind], transit_days, TRANSIT_GRID)
        yield f"exceed_{kind}", spread_keys, np.repeat(transit_known, len(TRANSIT_GRID)), above
        spread_keys, above = _spread(keys[kind], used, FRACTION_GRID)
        yield f"used_{kind}", spread_keys, np.repeat(known_at, len(FRACTION_GRID)), above


class HistoryView:
    """What the feature code asks of a history; `History` and `SignedHistory` answer it."""

    def count(self, name: str, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
        """(facts, sum of their values) per query, for the facts called `name` known by then."""
        raise NotImplementedError

    def purchases(self, after: np.ndarray, until: np.ndarray) -> np.ndarray:
        """Orders purchased in (after, until]."""
        raise NotImplementedError


class History(HistoryView):
    """The history facts of the orders of one ledger.

    Facts (`count` names; keys are vocabulary codes, or 0 for the platform):

    - ``outcome_<seller|lane|carrier|region|platform>``: 1 late, 0 on time; known at the
      delivery when on time, at the end of the promised day when late (or still undelivered);
    - ``handling_<seller|platform>``: seconds from purchase to hand-over, known at the hand-over;
    - ``transit_<lane|region|platform>``: seconds from hand-over to delivery, known at delivery;
    - ``exceed_<region|platform>``: per point i of `TRANSIT_GRID` (key ``key * 26 + i``), 1 when
      that transit took longer than the point, in days;
    - ``used_<region|platform>``: per point i of `FRACTION_GRID` (key ``key * 21 + i``), 1 when
      the order used more than that share of its promise (late orders: all of it and more).
    """

    def __init__(self, ledger: Ledger):
        self.facts: dict[str, _AsOf] = {
            name: _AsOf(keys, times, values) for name, keys, times, values in facts(ledger)
        }
        self.purchases_sorted = np.sort(ledger.purchase)

    def count(self, name: str, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
        return self.facts[name].query(keys, times)

    def purchases(self, after: np.ndarray, until: np.ndarray) -> np.ndarray:
        return np.searchsorted(self.purchases_sorted, until, side="right") - np.searchsorted(
            self.purchases_sorted, after, side="right"
        )


class SignedHistory(HistoryView):
    """A sum of histories with signs: ``[(+1, everything), (-1, left out), (+1, added)]``.

    Exact as long as every order subtracted was counted in a history added (the counts and
    sums are integers).
    """

    def __init__(self, terms: Sequence[tuple[int, HistoryView]]):
        self.terms = [(sign, term) for sign, term in terms if sign]

    def count(self, name: str, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
        n = np.zeros(len(keys), np.int64)
        total = np.zeros(len(keys), np.int64)
        for sign, term in self.terms:
            n_term, total_term = term.count(name, keys, times)
            n += sign * n_term
            total += sign * total_term
        return n, total

    def purchases(self, after: np.ndarray, until: np.ndarray) -> np.ndarray:
        out = np.zeros(np.broadcast(after, until).shape, np.int64)
        for sign, term in self.terms:
            out += sign * term.purchases(after, until)
        return out
