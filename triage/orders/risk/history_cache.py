"""`HistoryCache`: the stored orders' history, kept in a worker's memory between requests.

Scoring one order needs the history of the thousands stored around it (seller, lane and
platform outcomes of the `history_days` before the scoring time). Rebuilding that on every
request costs time in proportion to the stored orders; this cache builds it once and then
follows the database by its data version (triage.orders.storage), so that a request indexes
only the orders it scores. It holds three layers of orders, each newer one overriding the
orders of the same id below it:

    base      the window's orders when the cache was built (rebuilt rarely: seconds at 100,000)
    settled   orders changed since, folded together now and then (`fold_after` changes)
    fresh     orders changed since the last fold, re-indexed at every sync (a few ms at most)

and a request's history is

    history(now) = every layer, each minus the rows a newer layer overrides
                 - orders that left the window (purchased before now - history_days)
                 - the stored state of the orders being scored, + their state as scored

History is additive with integer counts and sums (triage.orders.risk.history), so the features are
exactly those of a full rebuild on the same tables (tests/test_orders_history.py). Outcomes
still enter only at the time they became known: the cache changes which orders are summed,
never when a fact counts.

The base is rebuilt when the changed orders pile up (`max_changed`) and when it is older than
`rebuild_after` (by `clock`). Its window starts `rebuild_after` earlier than a request's at
build time; a request whose window starts before that (an `as_of` far in the past) is answered
without the cache (`features` returns None and the caller rebuilds from the database).

    >>> cache = HistoryCache(OrderStore(store))                                  # doctest: +SKIP
    >>> features = cache.features(orders, events, now)   # OrderFeatures of these orders
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import History, Ledger, SignedHistory, Vocabulary
from triage.store_tables import utcnow

__all__ = ["HistoryCache", "StoredOrders"]


class StoredOrders(Protocol):
    """What the cache reads from the stored orders: triage.orders.storage.OrderStore, the
    layer above, implements it (the risk layer never imports storage)."""

    def version(self) -> int: ...

    def changed_since(self, version: int) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def tables_of(self, order_ids: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]: ...

    def tables(
        self, *, since: dt.datetime | None = None, include: Iterable[str] = ()
    ) -> tuple[pd.DataFrame, pd.DataFrame]: ...

NS = 1_000_000_000


def _ns(when: dt.datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(when).as_unit("ns").value)


@dataclass
class _Layer:
    """Orders of one layer with their history, and the rows of older layers they override."""

    ledger: Ledger
    ids: pd.Index = field(init=False)
    history: History = field(init=False)
    overridden: History = field(init=False)

    def index(self, overridden: Ledger) -> None:
        self.ids = pd.Index(self.ledger.order_id)
        self.history = History(self.ledger)
        self.overridden = History(overridden)


@dataclass
class _Base:
    """The layers as of one data version (see the module docstring)."""

    vocabulary: Vocabulary
    since_ns: int  # orders purchased at or after this are in the base layer
    built_ns: int
    version: int
    layers: list[_Layer]  # base (sorted by purchase time), settled, fresh

    def live(self, k: int, positions: np.ndarray) -> np.ndarray:
        """The `positions` of layer `k` whose orders no newer layer overrides."""
        ids = self.layers[k].ledger.order_id[positions]
        keep = np.ones(len(positions), bool)
        for newer in self.layers[k + 1 :]:
            keep &= ~pd.Index(ids).isin(newer.ids)
        return positions[keep]

    def overridden_by(self, k: int, ids: np.ndarray) -> Ledger:
        """The rows of layers older than `k` that orders `ids` override, where live then."""
        parts = []
        for j in range(k):
            at = self.layers[j].ids.get_indexer(ids)
            found = at[at >= 0]
            keep = np.ones(len(found), bool)
            for between in self.layers[j + 1 : k]:
                keep &= ~pd.Index(self.layers[j].ledger.order_id[found]).isin(between.ids)
            parts.append(self.layers[j].ledger.take(found[keep]))
        return Ledger.concat(parts) if parts else Ledger.empty()

    def take_in(self, ledger: Ledger, fold_after: int) -> None:
        """Orders stored since the last sync: into the fresh layer, which folds into the
        settled one past `fold_after` orders."""
        settled, fresh = self.layers[1], self.layers[2]
        fresh_ledger = _replaced(fresh.ledger, ledger)
        if len(fresh_ledger) > fold_after:
            settled.ledger = _replaced(settled.ledger, fresh_ledger)
            settled.index(self.overridden_by(1, settled.ledger.order_id))
            fresh_ledger = Ledger.empty()
        fresh.ledger = fresh_ledger
        fresh.index(self.overridden_by(2, fresh_ledger.order_id))

    def changed(self) -> int:
        return len(self.layers[1].ledger) + len(self.layers[2].ledger)


def _replaced(old: Ledger, new: Ledger) -> Ledger:
    """`old` with the orders of `new` replacing those of the same id."""
    return Ledger.concat([old.take(~pd.Index(old.order_id).isin(new.order_id)), new])


class HistoryCache:
    """A worker's copy of the stored orders' history (see the module docstring); thread-safe."""

    def __init__(
        self,
        orders: StoredOrders,
        *,
        history_days: int = 120,
        max_changed: int = 10_000,
        fold_after: int = 200,
        rebuild_after: dt.timedelta = dt.timedelta(hours=1),
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.orders = orders
        self.window_ns = history_days * 86_400 * NS
        self.max_changed = max_changed
        self.fold_after = fold_after
        self.rebuild_after_ns = int(rebuild_after.total_seconds() * NS)
        self.clock = clock
        self._base: _Base | None = None
        self._fetched: tuple[pd.DataFrame, pd.DataFrame] | None = None  # by the last sync
        self._lock = threading.Lock()
        self.builds = 0  # how many times the base was built (tests and logs read it)

    # -- keeping up with the database ---------------------------------------------------------
    def _build(self, when_ns: int) -> _Base:
        version = self.orders.version()  # first: nothing committed after it is missed
        built_ns = _ns(self.clock())
        # a little before the window, so that requests just behind this one still fit
        since_ns = min(when_ns, built_ns) - self.window_ns - self.rebuild_after_ns
        orders, events = self.orders.tables(since=pd.Timestamp(since_ns, unit="ns", tz="UTC"))
        vocabulary = Vocabulary()
        ledger = Ledger.from_tables(orders, events, vocabulary)
        layers = [
            _Layer(ledger.take(np.argsort(ledger.purchased_ns, kind="stable"))),
            _Layer(Ledger.empty()),
            _Layer(Ledger.empty()),
        ]
        for layer in layers:
            layer.index(Ledger.empty())
        self.builds += 1
        return _Base(vocabulary, since_ns, built_ns, version, layers)

    def _sync(self, base: _Base) -> None:
        version = self.orders.version()
        if version == base.version:
            return
        orders, events = self.orders.changed_since(base.version)
        base.take_in(Ledger.from_tables(orders, events, base.vocabulary), self.fold_after)
        base.version = version
        self._fetched = orders, events

    def _current(self, when_ns: int) -> _Base | None:
        """The base for a request at `when_ns`, built or synced as needed (lock held)."""
        base = self._base
        if base is not None and when_ns - self.window_ns < base.since_ns:
            return None  # a window starting before the base's: rebuilding would evict now
        if (
            base is None
            or _ns(self.clock()) - base.built_ns > self.rebuild_after_ns
            or base.changed() > self.max_changed
        ):
            base = self._base = self._build(when_ns)
        self._sync(base)
        if base.changed() > self.max_changed:
            base = self._base = self._build(when_ns)
        return base

    def refresh(self, when: dt.datetime) -> None:
        """Build or catch up now (a worker calls it at start so that requests find it warm)."""
        with self._lock:
            self._current(_ns(when))

    # -- features --------------------------------------------------------------------------------
    def features(
        self, orders: pd.DataFrame, events: pd.DataFrame, when: dt.datetime
    ) -> OrderFeatures | None:
        """`OrderFeatures` of `orders` (with their `events`) on the history of the stored
        orders purchased in the window before `when`, where `orders` replace stored orders of
        the same id: what ``OrderFeatures`` over those tables together gives. None when
        `when` is too far behind the cache (the caller rebuilds)."""
        when_ns = _ns(when)
        with self._lock:
            base = self._current(when_ns)
            if base is None:
                return None
            return self._features(base, orders, events, when_ns - self.window_ns)

    def stored(
        self, order_ids: Sequence[str], when: dt.datetime
    ) -> tuple[pd.DataFrame, pd.DataFrame, OrderFeatures] | None:
        """(orders, events, features) of these stored orders as the database has them now:
        `features` on the stored orders themselves. Orders just saved come from the sync that
        took them in, without reading them again. None as for `features`."""
        when_ns = _ns(when)
        with self._lock:
            base = self._current(when_ns)
            if base is None:
                return None
            wanted = pd.Index(order_ids)
            fetched = self._fetched
            if fetched is not None and wanted.isin(fetched[0]["order_id"]).all():
                orders = fetched[0][fetched[0]["order_id"].isin(wanted)].reset_index(drop=True)
                events = fetched[1][fetched[1]["order_id"].isin(wanted)].reset_index(drop=True)
            else:
                orders, events = self.orders.tables_of(wanted)
            features = self._features(base, orders, events, when_ns - self.window_ns)
            return orders, events, features

    def _features(
        self, base: _Base, orders: pd.DataFrame, events: pd.DataFrame, cutoff: int
    ) -> OrderFeatures:
        def history(scored: Ledger) -> SignedHistory:
            terms: list[tuple[int, History]] = []
            for layer in base.layers:
                terms += [(1, layer.history), (-1, layer.overridden)]
            left_out = self._left_out(base, cutoff, scored.order_id)
            return SignedHistory([*terms, (-1, History(left_out)), (1, History(scored))])

        return OrderFeatures(orders, events, history=history, vocabulary=base.vocabulary)

    @staticmethod
    def _left_out(base: _Base, cutoff: int, scored_ids: np.ndarray) -> Ledger:
        """Live rows of the layers that this request's history leaves out: orders purchased
        before the window, and the stored state of the orders being scored."""
        parts = []
        for k, layer in enumerate(base.layers):
            purchased = layer.ledger.purchased_ns
            if k == 0:  # sorted by purchase time
                aged = np.arange(np.searchsorted(purchased, cutoff, side="left"))
            else:
                aged = np.flatnonzero(purchased < cutoff)
            at = layer.ids.get_indexer(scored_ids)
            scored = at[at >= 0]
            scored = scored[purchased[scored] >= cutoff]
            parts.append(layer.ledger.take(base.live(k, np.concatenate([aged, scored]))))
        return Ledger.concat(parts)
