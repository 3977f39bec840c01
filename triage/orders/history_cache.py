"""`HistoryCache`: the stored orders' history, kept in a worker's memory between requests.

Scoring one order needs the history of the thousands stored around it (seller, lane and
platform outcomes of the `history_days` before the scoring time). Rebuilding that on every
request costs time in proportion to the stored orders; this cache builds it once and then
follows the database by its data version (triage.orders.storage), so that a request indexes
only the orders it scores:

    history(now) = base                      orders of the window when the cache was built
                 - base orders changed since, + their current state (reloaded by version)
                 - orders that left the window (purchased before now - history_days)
                 - the scored orders' stored state, + their state as scored

History is additive with integer counts and sums (triage.orders.history), so the features are
exactly those of a full rebuild on the same tables (tests/test_orders_history.py). Outcomes
still enter only at the time they became known: the cache changes which orders are summed,
never when a fact counts.

The base is rebuilt when the changed orders pile up (`max_changed`) and when it is older than
`rebuild_after` (by `clock`). Its window starts `rebuild_after` earlier than a request's at
build time;
a request whose window starts before that (an `as_of` far in the past) is answered without
the cache (`features` returns None and the caller rebuilds from the database).

    >>> cache = HistoryCache(OrderStore(store))                                  # doctest: +SKIP
    >>> features = cache.features(orders, events, now)   # OrderFeatures of these orders
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.orders.features import OrderFeatures
from triage.orders.history import History, Ledger, SignedHistory, Vocabulary
from triage.orders.storage import OrderStore
from triage.store_tables import utcnow

__all__ = ["HistoryCache"]

NS = 1_000_000_000


def _ns(when: dt.datetime | pd.Timestamp) -> int:
    return int(pd.Timestamp(when).as_unit("ns").value)


@dataclass
class _Base:
    """The window's orders as of one data version, and the changes read since."""

    vocabulary: Vocabulary
    since_ns: int  # orders purchased at or after this are in `ledger`
    built_ns: int
    ledger: Ledger  # sorted by purchase time
    history: History
    ids: pd.Index  # order id -> position in `ledger`
    version: int
    changed: Ledger  # current state of the orders stored since `version` of the build
    changed_ids: pd.Index
    changed_history: History
    replaced_history: History  # the base rows of the changed orders, subtracted

    def record(self, ledger: Ledger) -> None:
        """Take in orders stored since: they replace earlier changes of the same id."""
        keep = ~pd.Index(self.changed.order_id).isin(ledger.order_id)
        self.changed = Ledger.concat([self.changed.take(keep), ledger])
        self.changed_ids = pd.Index(self.changed.order_id)
        self.changed_history = History(self.changed)
        replaced = self.ids.get_indexer(self.changed.order_id)
        self.replaced_history = History(self.ledger.take(replaced[replaced >= 0]))


class HistoryCache:
    """A worker's copy of the stored orders' history (see the module docstring); thread-safe."""

    def __init__(
        self,
        orders: OrderStore,
        *,
        history_days: int = 120,
        max_changed: int = 2_000,
        rebuild_after: dt.timedelta = dt.timedelta(hours=1),
        clock: Callable[[], dt.datetime] = utcnow,
    ):
        self.orders = orders
        self.window_ns = history_days * 86_400 * NS
        self.max_changed = max_changed
        self.rebuild_after_ns = int(rebuild_after.total_seconds() * NS)
        self.clock = clock
        self._base: _Base | None = None
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
        ledger = ledger.take(np.argsort(ledger.purchased_ns, kind="stable"))
        empty = Ledger.empty()
        self.builds += 1
        return _Base(
            vocabulary=vocabulary,
            since_ns=since_ns,
            built_ns=built_ns,
            ledger=ledger,
            history=History(ledger),
            ids=pd.Index(ledger.order_id),
            version=version,
            changed=empty,
            changed_ids=pd.Index([], dtype=object),
            changed_history=History(empty),
            replaced_history=History(empty),
        )

    def _sync(self, base: _Base) -> None:
        version = self.orders.version()
        if version == base.version:
            return
        orders, events = self.orders.changed_since(base.version)
        base.record(Ledger.from_tables(orders, events, base.vocabulary))
        base.version = version

    def _current(self, when_ns: int) -> _Base | None:
        """The base for a request at `when_ns`, built or synced as needed (lock held)."""
        base = self._base
        if base is not None and when_ns - self.window_ns < base.since_ns:
            return None  # a window starting before the base's: rebuilding would evict now
        if (
            base is None
            or _ns(self.clock()) - base.built_ns > self.rebuild_after_ns
            or len(base.changed) > self.max_changed
        ):
            base = self._base = self._build(when_ns)
        self._sync(base)
        if len(base.changed) > self.max_changed:
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
            cutoff = when_ns - self.window_ns

            def history(scored: Ledger) -> SignedHistory:
                return SignedHistory(
                    [
                        (1, base.history),
                        (-1, base.replaced_history),
                        (1, base.changed_history),
                        (-1, History(self._left_out(base, cutoff, scored.order_id))),
                        (1, History(scored)),
                    ]
                )

            return OrderFeatures(orders, events, history=history, vocabulary=base.vocabulary)

    @staticmethod
    def _left_out(base: _Base, cutoff: int, scored_ids: np.ndarray) -> Ledger:
        """Rows that base + changed count but this request's history does not: orders
        purchased before the window, and the stored state of the orders being scored."""
        ledger, changed = base.ledger, base.changed
        # base rows purchased before the window (changed ones were subtracted already)
        aged = np.arange(np.searchsorted(ledger.purchased_ns, cutoff, side="left"))
        aged = aged[~pd.Index(ledger.order_id[aged]).isin(base.changed_ids)]
        changed_aged = np.flatnonzero(changed.purchased_ns < cutoff)
        # the stored state of the scored orders, where the window holds it
        at_changed = base.changed_ids.get_indexer(scored_ids)
        in_changed = at_changed[at_changed >= 0]
        in_changed = in_changed[changed.purchased_ns[in_changed] >= cutoff]
        at_base = base.ids.get_indexer(scored_ids)
        in_base = at_base[(at_base >= 0) & (at_changed < 0)]
        in_base = in_base[ledger.purchased_ns[in_base] >= cutoff]
        return Ledger.concat(
            [
                ledger.take(aged),
                ledger.take(in_base),
                changed.take(changed_aged),
                changed.take(in_changed),
            ]
        )
