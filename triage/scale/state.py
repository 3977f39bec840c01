"""`RiskState`: what a daily ``score-orders --state DIR`` run keeps, so that it reads only what changed.

A full run reads every order ever placed to score the few open today: their seller, lane,
carrier and platform features ask the history of all of them (triage.orders.risk.history). But
the features ask it only at the scoring time t and a few fixed distances before it (35 days at
most today: `cut_times`), so facts known before the earliest of those times are only counted,
never told apart by time. The state keeps:

- **folded sums**: per key, the count and sum of every fact of the *settled* orders: delivered
  (by t) or canceled, with every fact known by the horizon (the earliest cut-off time of the
  run that settled them);
- **live records**: per order not settled, what its facts come from (`Records`: the vocabulary
  codes, purchase, promise, ``delivered_at``, first ``delivered`` and ``picked_up`` events; about
  100 bytes an order, no text);
- **open orders**: the full rows and every event of the orders neither delivered by t nor
  canceled, the only ones a later run scores;
- **settled records**, append-only on disk with an index by id, read only for the orders a
  change touches;
- the vocabulary (codes of seller, lane, carrier and region names), the parts already read
  (name and size), the last scoring time and the latest time seen.

A run reads the parts of `--data` and `--events` it has not read yet (in name order; an order's
row read again replaces the one before, events are added), scores the open orders over the
folded sums plus the live records' facts summed at the cut-off times (triage.scale.history),
then folds the orders settled by the new horizon and writes the new state beside the old one,
switching to it in one rename. A change to a settled order is exact too: its old facts are
taken out of the folded sums and it is live again. The one change a state cannot take is an
order delivered or canceled by an earlier run that is open again (its events are no longer
kept): that is an error that says to rebuild the state.

Orders are told apart by two independent 64-bit hashes of their id (a false match needs both
to collide: less than one chance in 10^24 among ten million orders). Counts and sums are integers,
so a run from yesterday's state and today's parts gives the scores and features a full run
over all the parts gives (tests/test_scale_state.py).

    >>> state = RiskState.load("state/")                       # doctest: +SKIP
    >>> run = state.apply_parts("orders/", "events/")          # doctest: +SKIP
    >>> frame = scorer.score_frame(run.orders, run.events, as_of=run.as_of, features=run.features)
    >>> state.save()                                           # doctest: +SKIP
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import DataFileError, InputError
from triage.orders.data.fields import EVENT_COLUMNS
from triage.orders.data.schema import validate_events, validate_orders
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import KINDS, Ledger, Vocabulary, facts
from triage.orders.risk.scoring import scoring_time
from triage.orders.risk.snapshots import NEVER, seconds
from triage.scale.cluster import filesystem, parquet_parts, read_part
from triage.scale.history import CutHistory, cut_sums, cut_times, purchased_by

__all__ = ["Records", "RiskState", "StateRun"]

FORMAT = 1
CURRENT = "CURRENT"  # names the generation in use
LOCK = "LOCK"  # held by the run using the state
HASH_KEYS = ("case-triage-st-1", "case-triage-st-2")  # two independent hashes of an id
CODES = ("seller", "lane", "carrier", "region")
TIMES = ("purchased_ns", "promise_end", "delivered_at", "delivered_event", "pickup", "last_fact")
COLUMNS = ("h1", "h2", *CODES, *TIMES, "canceled")
#: rows of parts applied at a time: a daily run's parts in one go, the first run's in a few
BATCH_ROWS = 1_000_000


def id_hashes(ids) -> tuple[np.ndarray, np.ndarray]:
    """The two hashes that stand for order ids in `Records` (each distinct id hashed once:
    an order's events repeat its id)."""
    codes, distinct = pd.factorize(np.asarray(ids, dtype=object), sort=False)
    distinct = np.asarray(distinct, dtype=object)
    return tuple(
        pd.util.hash_array(distinct, hash_key=key, categorize=False)[codes] for key in HASH_KEYS
    )


def find_keys(keys1: np.ndarray, keys2: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
    """Positions of the pairs (h1, h2) among the pairs (keys1, keys2), sorted by keys1, -1
    where absent."""
    n = len(keys1)
    found = np.full(len(h1), -1, np.int64)
    if not n:
        return found
    left = np.searchsorted(keys1, h1, side="left")
    at = np.minimum(left, n - 1)
    hit = keys1[at] == h1
    # a first hash shared by several orders (next one equal too): by the second, one by one
    shared = hit & (at + 1 < n) & (keys1[np.minimum(at + 1, n - 1)] == h1)
    single = hit & ~shared
    match = single & (keys2[at] == h2)
    found[match] = at[match]
    for i in np.flatnonzero(shared):
        right = np.searchsorted(keys1, h1[i], side="right")
        block = np.flatnonzero(keys2[left[i] : right] == h2[i])
        if len(block):
            found[i] = left[i] + block[0]
    return found


class Records:
    """Per order, what its history facts come from, sorted by id hash (see the module
    docstring); `ledger()` gives the `Ledger` that `Ledger.from_tables` gives for the orders
    and their events."""

    def __init__(self, columns: dict[str, np.ndarray]):
        self.c = columns

    @classmethod
    def empty(cls) -> Records:
        return cls(
            {
                name: np.zeros(
                    0,
                    np.uint64 if name in ("h1", "h2") else bool if name == "canceled" else np.int64,
                )
                for name in COLUMNS
            }  # fmt: skip
        )

    @classmethod
    def of_orders(
        cls, orders: pd.DataFrame, vocabulary: Vocabulary, keys: tuple[np.ndarray, np.ndarray]
    ) -> Records:
        """The records of validated `orders` whose ids hash to `keys`, with no events yet
        (`add_events` adds them)."""
        ledger = Ledger.from_tables(orders, _no_events(), vocabulary)
        h1, h2 = keys
        records = cls(
            {
                "h1": h1,
                "h2": h2,
                **{kind: getattr(ledger, kind) for kind in CODES},
                "purchased_ns": ledger.purchased_ns,
                "promise_end": ledger.promise_end,
                "delivered_at": ledger.delivered,  # no events given: delivered_at alone
                "delivered_event": np.full(len(orders), NEVER, np.int64),
                "pickup": np.full(len(orders), NEVER, np.int64),
                "last_fact": np.zeros(len(orders), np.int64),
                "canceled": orders["canceled"].to_numpy(bool),
            }
        )
        records.c["last_fact"] = _last_fact(records.ledger())
        return records.sorted()

    def __len__(self) -> int:
        return len(self.c["h1"])

    def sorted(self) -> Records:
        """Sorted by the first hash (`find` needs no more)."""
        return self.take(np.argsort(self.c["h1"], kind="stable"))

    def take(self, index: np.ndarray) -> Records:
        return Records({name: values[index] for name, values in self.c.items()})

    def find(self, h1: np.ndarray, h2: np.ndarray) -> np.ndarray:
        """Positions of the orders with hashes (h1, h2), -1 where absent."""
        return find_keys(self.c["h1"], self.c["h2"], h1, h2)

    def delivered(self) -> np.ndarray:
        return np.minimum(self.c["delivered_at"], self.c["delivered_event"])

    def ledger(self) -> Ledger:
        purchased_ns = self.c["purchased_ns"]
        return Ledger(
            order_id=self.c["h1"],
            purchased_ns=purchased_ns,
            **{kind: self.c[kind] for kind in CODES},
            purchase=purchased_ns // 1_000_000_000,
            promise_end=self.c["promise_end"],
            delivered=self.delivered(),
            pickup=self.c["pickup"],
        )

    def upsert(self, new: Records) -> Records:
        """These records with `new` ones (sorted) replacing those of the same orders, which
        keep their events' first times, and the others inserted where they sort."""
        at = self.find(new.c["h1"], new.c["h2"])
        known = at >= 0
        replaced = at[known]
        for name in COLUMNS:
            if name not in ("delivered_event", "pickup"):
                self.c[name][replaced] = new.c[name][known]
        self.refresh(replaced)
        added = new.take(~known)
        where = np.searchsorted(self.c["h1"], added.c["h1"], side="left")
        merged = Records({name: np.insert(self.c[name], where, added.c[name]) for name in COLUMNS})
        return merged

    def add_events(self, events: pd.DataFrame, keys: tuple[np.ndarray, np.ndarray]) -> np.ndarray:
        """Take the first ``delivered`` and ``picked_up`` times of `events` (whose order ids
        hash to `keys`) in; the positions of their orders (-1: not in these records)."""
        at = self.find(*keys)
        found = at >= 0
        for name, kind in (("delivered_event", "delivered"), ("pickup", "picked_up")):
            chosen = found & (events["event_type"] == kind).to_numpy()
            np.minimum.at(self.c[name], at[chosen], seconds(events["time"][chosen]))
        self.refresh(np.unique(at[found]))
        return at

    def refresh(self, positions: np.ndarray) -> None:
        """Recompute `last_fact` of the records at `positions` (after a change)."""
        if len(positions):
            self.c["last_fact"][positions] = _last_fact(self.take(positions).ledger())

    def save(self, folder: Path) -> None:
        """One ``.npy`` file per column (no zip: no checksum to compute over every byte)."""
        folder.mkdir(parents=True, exist_ok=True)
        for name, values in self.c.items():
            np.save(folder / f"{name}.npy", values)

    @classmethod
    def load(cls, folder: Path) -> Records:
        return cls({name: np.load(folder / f"{name}.npy") for name in COLUMNS})

    @staticmethod
    def concat(parts: list[Records]) -> Records:
        return Records({name: np.concatenate([p.c[name] for p in parts]) for name in COLUMNS})


def _last_fact(ledger: Ledger) -> np.ndarray:
    """Per order, the latest time one of its facts becomes known (its purchase at least)."""
    latest = ledger.purchase.copy()
    for _, _, known, _ in facts(ledger, spread=False):
        np.maximum(latest, np.where(known < NEVER, known, latest), out=latest)
    return latest


def _grown(array: np.ndarray, rows: int) -> np.ndarray:
    """`array` with zero rows added up to `rows` rows (the vocabulary grew)."""
    if len(array) >= rows:
        return array
    return np.concatenate([array, np.zeros((rows - len(array), *array.shape[1:]), array.dtype)])


@dataclass
class StateRun:
    """One run's tables and history: score ``orders`` (the open orders, whole rows, with
    their ``events``) with ``features`` at ``as_of``; ``read`` counts the rows read."""

    as_of: pd.Timestamp
    orders: pd.DataFrame
    events: pd.DataFrame
    features: OrderFeatures
    read: dict[str, int]
    closed: dict[str, str]  # orders read this run and no longer open: delivered or canceled


@dataclass
class RiskState:
    """See the module docstring: `load`, `apply_parts`, `save`."""

    root: Path
    vocabulary: Vocabulary = field(default_factory=Vocabulary)
    folded: dict[str, np.ndarray] = field(default_factory=dict)  # name -> (keys, 2): n, s
    folded_purchased: int = 0
    horizon: int = -NEVER  # every fact of a settled order is known by then
    as_of: int | None = None  # the last run's scoring time
    latest: int | None = None  # the latest purchase or event time read
    parts: dict[str, dict[str, int]] = field(default_factory=lambda: {"orders": {}, "events": {}})
    live: Records = field(default_factory=Records.empty)
    open_orders: pd.DataFrame | None = None  # whole rows
    open_events: pd.DataFrame = field(default_factory=lambda: _no_events())
    #: the hashes of the open orders' ids (h1, h2) and of their events' (h1), row by row
    open_keys: tuple[np.ndarray, np.ndarray] = (np.zeros(0, np.uint64), np.zeros(0, np.uint64))
    event_keys: np.ndarray = field(default_factory=lambda: np.zeros(0, np.uint64))
    #: the settled orders' hashes (sorted) and the chunk that holds each one's record
    settled: dict[str, np.ndarray] = field(default_factory=lambda: _settled_index([], [], []))
    chunks: int = 0  # settled chunks written so far
    sample: pd.DataFrame | None = None  # one validated order: `cut_times` builds on it
    _new_chunk: Records | None = None  # settled by this run, written by `save`
    _held: Any = None  # the open lock file

    # -- the run -----------------------------------------------------------------------------
    def apply_parts(self, orders_url: str, events_url: str | None, *, as_of=None) -> StateRun:
        """Read the parts not read before, apply them and make this run's features (the state
        changes in memory; `save` writes it). `as_of` defaults to the latest time seen.

        Parts are taken in batches of about `BATCH_ROWS` rows, the orders' first, then the
        events': of the events only those of orders still open are kept, so a run that reads
        many parts (the first run of a state reads them all) holds the records, the open
        orders and one batch."""
        given = None if as_of is None else scoring_time(_no_orders(), _no_events(), as_of)
        if given is not None and self.as_of is not None and given < self.as_of:
            raise InputError(
                f"--as-of {pd.Timestamp(given, unit='s', tz='UTC')} is before the last run of "
                f"this state ({pd.Timestamp(self.as_of, unit='s', tz='UTC')}): a state only "
                "moves forward; score an earlier time without --state"
            )
        order_parts = self._unread(orders_url, "orders", "--data")
        event_parts = [] if events_url is None else self._unread(events_url, "events", "--events")
        read = {"orders": 0, "events": 0}
        seen, eventless = [], []  # the ids read (with their hashes), the orders read again
        for orders in _batches(order_parts, validate_orders):
            # an order in several parts of a batch: the last part's row
            orders = orders.drop_duplicates("order_id", keep="last").reset_index(drop=True)
            ids, again = self._take_orders(orders)
            seen.append(ids)
            eventless.append(again)
            read["orders"] += len(orders)
        if self.sample is None:
            raise DataFileError(f"{orders_url}: no orders in any part")

        def trim() -> None:
            # between batches of a large run only (a daily run is trimmed once, at the end):
            # an order done by then is done at the scoring time, which is at or after both
            if read["orders"] + read["events"] > BATCH_ROWS:
                self._trim(self.latest if given is None else given)

        trim()
        for events in _batches(event_parts, validate_events):
            seen.append(self._take_events(events))
            read["events"] += len(events)
            trim()
        t = self.latest if given is None else given
        if self.as_of is not None and t < self.as_of:
            raise InputError(
                f"the latest time the parts hold, {pd.Timestamp(t, unit='s', tz='UTC')}, is "
                f"before the last run of this state ({pd.Timestamp(self.as_of, unit='s', tz='UTC')})"
                ", which was given a later --as-of: give --as-of again"
            )
        times = cut_times(self.sample, t)
        if times[0] < self.horizon:  # the features ask further back than the state kept
            raise InputError(
                "the risk features look further back than this state keeps (it was written by "
                "another version): rebuild it with a new --state directory"
            )
        self._drop_closed(t, np.concatenate([np.zeros(0, np.uint64), *eventless]))
        features = OrderFeatures(
            self.open_orders,
            self.open_events,
            history=self._history(times),
            vocabulary=self.vocabulary,
        )
        closed = self._closed(t, seen)
        self.as_of = t
        self._settle(t, int(times[0]))
        as_of_stamp = pd.Timestamp(t, unit="s", tz="UTC")
        return StateRun(as_of_stamp, self.open_orders, self.open_events, features, read, closed)

    def _closed(self, t: int, seen: list[tuple[np.ndarray, ...]]) -> dict[str, str]:
        """Of the orders this run read (`seen`: ids and hashes per batch), those no longer
        open: "delivered" or "canceled"."""
        if not seen:
            return {}
        ids, h1, h2 = _distinct(*(np.concatenate(parts) for parts in zip(*seen, strict=True)))
        gone = ~_member(h1, self.open_keys[0])
        at = self.live.find(h1[gone], h2[gone])
        delivered = self.live.delivered()[at] <= t  # as `order_states` ranks them
        states = np.where(delivered, "delivered", "canceled")
        return dict(zip(ids[gone].tolist(), states.tolist(), strict=True))

    def _unread(self, url: str, table: str, option: str) -> list[str]:
        """The parts of `url` not read yet, in name order; a part read before whose size
        changed is an error (parts are added, never rewritten)."""
        parts = parquet_parts(url, option, reader="--state")
        fs, root = filesystem(url)
        root = root.rstrip("/")
        seen = self.parts[table]
        unread = []
        for part in parts:
            # named below the directory given, so that moving the directory reads nothing twice
            path = fs._strip_protocol(part)
            name = path[len(root) + 1 :] if path.startswith(root + "/") else os.path.basename(path)
            size = int(fs.size(part))
            if name in seen:
                if seen[name] != size:
                    raise DataFileError(
                        f"{part}: changed since a run of this state read it ({seen[name]} bytes, "
                        f"now {size}); parts are added, never rewritten: write a changed order "
                        "again in a new part"
                    )
                continue
            unread.append(part)
            seen[name] = size
        return unread

    def _take_orders(self, orders: pd.DataFrame) -> tuple[tuple[np.ndarray, ...], np.ndarray]:
        """Take in one batch of orders (replacing the rows read before): the ids read with
        their hashes, and the hashes (h1) of the orders read again whose events were let go
        before (delivered or canceled then)."""
        if self.sample is None:
            self.sample = orders.iloc[:1].reset_index(drop=True)
            self.open_orders = orders.iloc[:0]
        h1, h2 = id_hashes(orders["order_id"])
        self._unsettle(h1, h2)
        open_h1 = self.open_keys[0]
        known = self.live.find(h1, h2) >= 0
        eventless = h1[known & ~_member(h1, open_h1)]
        self.live = self.live.upsert(Records.of_orders(orders, self.vocabulary, (h1, h2)))
        kept = ~_member(open_h1, h1)
        self.open_orders = pd.concat([self.open_orders[kept], orders], ignore_index=True)
        self.open_keys = tuple(
            np.concatenate([old[kept], new])
            for old, new in zip(self.open_keys, (h1, h2), strict=True)
        )
        self._saw(int(seconds(orders["purchased_at"]).max()))
        return _distinct(orders["order_id"].to_numpy(object), h1, h2), eventless

    def _take_events(self, events: pd.DataFrame) -> tuple[np.ndarray, ...]:
        """Take in one batch of events (the first times of the records, the events of the
        orders still open): the ids read with their hashes."""
        e1, e2 = id_hashes(events["order_id"])
        self._unsettle(e1, e2)
        at = self.live.add_events(events, (e1, e2))
        if (at < 0).any():
            stray = events["order_id"][at < 0]
            raise DataFileError(
                f"events: {len(stray)} event(s) refer to orders that are not in the orders "
                f"table (first: {stray.iloc[0]})"
            )
        mine = _member(e1, self.open_keys[0])
        self.open_events = pd.concat([self.open_events, events[mine]], ignore_index=True)
        self.event_keys = np.concatenate([self.event_keys, e1[mine]])
        self._saw(int(seconds(events["time"]).max()))
        return _distinct(events["order_id"].to_numpy(object), e1, e2)

    def _saw(self, latest: int) -> None:
        self.latest = latest if self.latest is None else max(self.latest, latest)

    def _trim(self, t: int) -> np.ndarray:
        """Keep the whole rows and events of the orders not delivered by `t` nor canceled (in
        the order they came: an order's events with the same time stay in reading order); the
        hashes (h1) of the orders kept."""
        h1, h2 = self.open_keys
        at = self.live.find(h1, h2)
        keep = (self.live.delivered()[at] > t) & ~self.live.c["canceled"][at]
        if not keep.all():
            self.open_orders = self.open_orders[keep].reset_index(drop=True)
            self.open_keys = h1[keep], h2[keep]
            mine = _member(self.event_keys, h1[keep])
            self.open_events = self.open_events[mine].reset_index(drop=True)
            self.event_keys = self.event_keys[mine]
        return h1[keep]

    def _drop_closed(self, t: int, eventless: np.ndarray) -> None:
        """`_trim` at the scoring time; an order among `eventless` still open is an error."""
        kept = self._trim(t)
        if len(eventless) and _member(kept, eventless).any():
            again = self.open_orders["order_id"][_member(kept, eventless)].iloc[0]
            raise InputError(
                f"order {again} was delivered or canceled and is open again: the state no "
                "longer holds its events; rebuild it from all parts with a new --state directory"
            )

    # -- history -----------------------------------------------------------------------------
    def _sizes(self) -> dict[str, int]:
        return {kind: len(names) for kind, names in self.vocabulary.names().items()}

    def _history(self, times: np.ndarray) -> CutHistory:
        """Folded sums plus the live records' facts at `times`."""
        ledger = self.live.ledger()
        sums = cut_sums(ledger, times, self._sizes())
        for name, (n, s) in sums.items():
            folded = _grown(self.folded.get(name, np.zeros((0, 2), np.int64)), len(n))
            n += folded[: len(n), :1]
            s += folded[: len(n), 1:]
        purchased = purchased_by(ledger, times) + self.folded_purchased
        return CutHistory.from_sums(self.vocabulary, times, sums, purchased)

    def _fold(self, records: Records, sign: int) -> None:
        """Add (`sign` 1) or take out (-1) every fact of `records` to or from the folded sums."""
        if not len(records):
            return
        end = np.array([NEVER - 1], np.int64)  # every fact known at all
        for name, (n, s) in cut_sums(records.ledger(), end, self._sizes()).items():
            folded = _grown(self.folded.get(name, np.zeros((0, 2), np.int64)), len(n)).copy()
            folded[: len(n)] += sign * np.hstack([n, s])
            if (folded[:, 0] < 0).any():
                raise DataFileError(
                    f"--state {self.root}: its sums went below zero, so it is damaged; rebuild "
                    "it from all parts with a new --state directory"
                )
            self.folded[name] = folded
        self.folded_purchased += sign * len(records)

    def _settle(self, t: int, horizon: int) -> None:
        """Fold the live orders done by `t` whose every fact is known by `horizon`."""
        live = self.live
        done = (live.delivered() <= t) | live.c["canceled"]
        settled = done & (live.c["last_fact"] <= horizon)
        chunk = live.take(settled)
        self._fold(chunk, 1)
        self.live = live.take(~settled)
        self.horizon = horizon
        if len(chunk):
            self._new_chunk = chunk
            self.settled = _inserted(
                self.settled,
                {
                    "h1": chunk.c["h1"],
                    "h2": chunk.c["h2"],
                    "chunk": np.full(len(chunk), self.chunks, np.int64),
                },
            )
            self.chunks += 1

    def _unsettle(self, h1: np.ndarray, h2: np.ndarray) -> None:
        """The settled orders among (h1, h2) live again, their facts out of the folded sums."""
        index = self.settled
        at = find_keys(index["h1"], index["h2"], h1, h2) if len(h1) else np.zeros(0, np.int64)
        at = np.unique(at[at >= 0])
        if not len(at):
            return
        found = []
        for chunk in np.unique(index["chunk"][at]):
            records = self._read_chunk(int(chunk))
            mine = at[index["chunk"][at] == chunk]
            positions = records.find(index["h1"][mine], index["h2"][mine])
            if (positions < 0).any():
                raise DataFileError(
                    f"--state {self.root}: settled chunk {chunk} lacks orders its index names, "
                    "so the state is damaged; rebuild it with a new --state directory"
                )
            found.append(records.take(positions))
        records = Records.concat(found)
        self._fold(records, -1)
        self.live = Records.concat([self.live, records]).sorted()
        keep = np.ones(len(index["h1"]), bool)
        keep[at] = False
        self.settled = {name: values[keep] for name, values in index.items()}

    # -- disk --------------------------------------------------------------------------------
    def _lock(self) -> None:
        import fcntl

        self.root.mkdir(parents=True, exist_ok=True)
        self._held = open(self.root / LOCK, "a")  # noqa: SIM115 (held until save or close)
        try:
            fcntl.flock(self._held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            self.close()
            raise InputError(
                f"--state {self.root}: another run is using this state; wait for it to end"
            ) from None

    def close(self) -> None:
        """Let another run use the state (the lock also ends with the process)."""
        if self._held is not None:
            self._held.close()
            self._held = None

    def _chunk_path(self, chunk: int) -> Path:
        return self.root / "settled" / f"chunk-{chunk:06d}"

    def _read_chunk(self, chunk: int) -> Records:
        if self._new_chunk is not None and chunk == self.chunks - 1:
            return self._new_chunk  # settled by this very run, not written yet
        try:
            return Records.load(self._chunk_path(chunk))
        except (OSError, ValueError, KeyError) as exc:
            raise DataFileError(
                f"--state {self.root}: cannot read settled chunk {chunk}: {exc}"
            ) from None

    @classmethod
    def load(cls, root: str | Path) -> RiskState:
        """The state saved under `root` (an empty one when `root` has none yet), locked for
        this run until `save` or `close`: a second run on the same directory is an error."""
        root = Path(root)
        pointer = root / CURRENT
        if not pointer.exists() and root.exists():
            if not root.is_dir() or any(p.name != LOCK for p in root.iterdir()):
                raise InputError(
                    f"--state {root}: not a state directory (no {CURRENT} file) and not empty"
                )
        state = cls(root=root)
        state._lock()
        if not pointer.exists():
            return state
        here = root / pointer.read_text().strip()
        try:
            meta = json.loads((here / "state.json").read_text())
            if meta.get("format") != FORMAT:
                raise InputError(
                    f"--state {root}: format {meta.get('format')}, this version reads {FORMAT}; "
                    "rebuild it with a new --state directory"
                )
            names = json.loads((here / "vocabulary.json").read_text())
            for kind in KINDS:
                state.vocabulary.codes(kind, np.asarray(names[kind], dtype=object))
            with np.load(here / "folded.npz") as folded:
                state.folded = {name: folded[name] for name in folded.files}
            state.live = Records.load(here / "live")
            with np.load(here / "settled.npz") as index:
                state.settled = {name: index[name] for name in ("h1", "h2", "chunk")}
            state.open_orders = _read_table(here / "open_orders")
            state.open_events = _read_table(here / "open_events")
            state.sample = _read_table(here / "sample")
            with np.load(here / "keys.npz") as keys:
                state.open_keys = keys["open_h1"], keys["open_h2"]
                state.event_keys = keys["event_h1"]
            for key in ("folded_purchased", "horizon", "as_of", "latest", "parts", "chunks"):
                setattr(state, key, meta[key])
        except (OSError, ValueError, KeyError) as exc:
            raise DataFileError(
                f"--state {root}: cannot read {here.name} ({type(exc).__name__}: {exc}); "
                "rebuild it with a new --state directory"
            ) from None
        return state

    def save(self) -> Path:
        """Write this state as a new generation and switch to it (one rename)."""
        assert self.sample is not None and self.open_orders is not None
        root = self.root
        (root / "settled").mkdir(parents=True, exist_ok=True)
        if self._new_chunk is not None:
            self._new_chunk.save(self._chunk_path(self.chunks - 1))
            self._new_chunk = None
        pointer = root / CURRENT
        previous = pointer.read_text().strip() if pointer.exists() else None
        number = int(previous.split("-")[1]) + 1 if previous else 1
        here = root / f"gen-{number:06d}"
        shutil.rmtree(here, ignore_errors=True)
        here.mkdir()
        self.live.save(here / "live")
        np.savez(here / "settled.npz", **self.settled)
        _write_table(self.open_orders, here / "open_orders")
        _write_table(self.open_events, here / "open_events")
        _write_table(self.sample, here / "sample")
        np.savez(
            here / "keys.npz",
            open_h1=self.open_keys[0],
            open_h2=self.open_keys[1],
            event_h1=self.event_keys,
        )
        np.savez(here / "folded.npz", **self.folded)
        (here / "vocabulary.json").write_text(json.dumps(self.vocabulary.names()))
        meta = {
            "format": FORMAT,
            **{
                key: getattr(self, key)
                for key in ("folded_purchased", "horizon", "as_of", "latest", "parts", "chunks")
            },
            "live_orders": len(self.live),
            "open_orders": len(self.open_orders),
            "settled_orders": len(self.settled["h1"]),
        }
        (here / "state.json").write_text(json.dumps(meta, indent=1))
        temporary = root / (CURRENT + ".tmp")
        temporary.write_text(here.name + "\n")
        os.replace(temporary, pointer)
        if previous and previous != here.name:
            shutil.rmtree(root / previous, ignore_errors=True)
        self.close()
        return here


def _distinct(ids: np.ndarray, h1: np.ndarray, h2: np.ndarray) -> tuple[np.ndarray, ...]:
    """(ids, h1, h2) with each order once."""
    _, first = np.unique(h1, return_index=True)
    return ids[first], h1[first], h2[first]


def _batches(parts: list[str], validate) -> Iterator[pd.DataFrame]:
    """The validated rows of `parts`, in order, about `BATCH_ROWS` at a time (parts without
    rows skipped)."""
    frames, rows = [], 0
    for part in parts:
        frame = read_part(part)
        if frame.empty:
            continue
        frames.append(validate(frame, where=part))
        rows += len(frame)
        if rows >= BATCH_ROWS:
            yield pd.concat(frames, ignore_index=True)
            frames, rows = [], 0
    if frames:
        yield pd.concat(frames, ignore_index=True)


def _member(values: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Which of `values` are among `members` (hashes; a sorted search, faster than np.isin
    here)."""
    if not len(members):
        return np.zeros(len(values), bool)
    members = np.sort(members)
    at = np.minimum(np.searchsorted(members, values), len(members) - 1)
    return members[at] == values


def _settled_index(h1: list, h2: list, chunk: list) -> dict[str, np.ndarray]:
    """The settled index of these hashes and chunk numbers, sorted by the first hash."""
    h1 = np.concatenate([np.zeros(0, np.uint64), *h1])
    order = np.argsort(h1, kind="stable")
    h2 = np.concatenate([np.zeros(0, np.uint64), *h2])
    chunk = np.concatenate([np.zeros(0, np.int64), *chunk])
    return {"h1": h1[order], "h2": h2[order], "chunk": chunk[order]}


def _inserted(index: dict[str, np.ndarray], added: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """`index` (sorted by h1) with the entries of `added` inserted where they sort."""
    added = _settled_index([added["h1"]], [added["h2"]], [added["chunk"]])
    where = np.searchsorted(index["h1"], added["h1"], side="left")
    return {name: np.insert(index[name], where, added[name]) for name in index}


def _write_table(frame: pd.DataFrame, folder: Path) -> None:
    """Write a validated table as one ``.npy`` file per column, text as codes into its distinct
    values: several times faster both ways than Parquet for a state read and written at every
    run, and read back as the same frame by `_read_table`."""
    folder.mkdir(parents=True, exist_ok=True)
    kinds = {}
    for column in frame.columns:
        values = frame[column]
        if isinstance(values.dtype, pd.DatetimeTZDtype):
            kinds[column] = "time"
            np.save(folder / f"{column}.npy", values.to_numpy("datetime64[ns]").view(np.int64))
        elif values.dtype == object:
            kinds[column] = "text"
            codes, uniques = pd.factorize(values.to_numpy(object), sort=False)
            if codes.min(initial=0) < 0:  # a missing text: validation never leaves one
                raise ValueError(f"{column}: missing values")
            np.save(folder / f"{column}.npy", codes.astype(np.int32))
            np.save(folder / f"{column}.text.npy", np.asarray(uniques, dtype=str))
        else:
            kinds[column] = "array"
            np.save(folder / f"{column}.npy", values.to_numpy())
    (folder / "columns.json").write_text(json.dumps(kinds))


def _read_table(folder: Path) -> pd.DataFrame:
    """A table `_write_table` wrote, its text as `validate_orders` and `validate_events` give it
    (object columns) and its times UTC."""
    kinds = json.loads((folder / "columns.json").read_text())
    columns = {}
    for column, kind in kinds.items():
        values = np.load(folder / f"{column}.npy")
        if kind == "time":
            columns[column] = pd.DatetimeIndex(values.view("datetime64[ns]")).tz_localize("UTC")
        elif kind == "text":
            uniques = np.load(folder / f"{column}.text.npy").astype(object)
            columns[column] = pd.Series(uniques[values], dtype=object)  # not pandas' str
        else:
            columns[column] = values
    return pd.DataFrame(columns)


def _no_events() -> pd.DataFrame:
    return validate_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))


def _no_orders() -> pd.DataFrame:
    return pd.DataFrame(columns=["order_id"])
