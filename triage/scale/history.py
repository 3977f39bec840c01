"""The risk history of a Dask run: counts and sums per key at a few cut-off times.

In one process `History` keeps every fact of every order (about 2.5 KB an order) so that it can
answer "known at or before t" for any t. A batch run scores every open order at one time t, and
the feature code asks the history at t and at a few fixed distances before it (its 7, 14, 28
and 35-day windows). At those times, per key (seller, lane, carrier, region, platform; per grid
point for the ``exceed_*`` and ``used_*`` facts), a count and an integer sum are all the answers
there are: `Cuts` holds them, keys x cut-offs, a size set by the keys and not by the orders.

- `cut_times(orders, t)`: the times the feature code asks at, found by building the features of
  one order over a history that records its questions (so a window added to the features needs
  no change here; a question at any other time fails loudly in `CutHistory`);
- `Cuts.of_ledger(ledger, names, times)`: one partition's counts and sums, keyed by name;
- `Cuts.combine(parts)`: their sum (integers: any grouping gives the same figures);
- `CutHistory(cuts)`: the `HistoryView` and `Vocabulary` the partitions are scored against.

>>> times = cut_times(one_order, t)                                          # doctest: +SKIP
>>> part = Cuts.of_ledger(ledger, vocabulary.names(), times)                 # doctest: +SKIP
>>> history = CutHistory(Cuts.combine([part, other]))                        # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from triage.orders.data.fields import EVENT_COLUMNS
from triage.orders.data.schema import validate_events
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import (
    FRACTION_GRID,
    KINDS,
    TRANSIT_GRID,
    HistoryView,
    Ledger,
    Vocabulary,
    facts,
)

__all__ = ["CutHistory", "Cuts", "cut_sums", "cut_times", "purchased_by"]

PLATFORM = ""  # the one key of the platform facts


def _kind(name: str) -> str:
    """The key kind of fact `name` (``outcome_seller`` -> ``seller``)."""
    return name.split("_", 1)[1]


def _points(name: str) -> int:
    """Grid points per key of fact `name` (its keys are ``key * points + point``)."""
    if name.startswith("exceed_"):
        return len(TRANSIT_GRID)
    if name.startswith("used_"):
        return len(FRACTION_GRID)
    return 1


class _Recorder(HistoryView):
    """A history that answers zero and remembers the times it was asked at."""

    def __init__(self) -> None:
        self.times: set[int] = set()

    def count(self, name: str, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
        self.times.update(int(x) for x in np.unique(times))
        return np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)

    def purchases(self, after: np.ndarray, until: np.ndarray) -> np.ndarray:
        self.times.update(int(x) for x in np.unique(np.concatenate([after, until])))
        return np.zeros(np.broadcast(after, until).shape, np.int64)


def cut_times(orders: pd.DataFrame, t: int) -> np.ndarray:
    """The times (seconds, sorted) at which the features of an order scored at `t` ask the
    history, found on the first order of validated `orders`."""
    recorder = _Recorder()
    no_events = validate_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))
    features = OrderFeatures(
        orders.iloc[:1].reset_index(drop=True), no_events, history=recorder, vocabulary=Vocabulary()
    )
    with np.errstate(all="ignore"):  # zero counts everywhere: the values do not matter
        features.build(np.zeros(1, np.int64), np.full(1, t, np.int64))
    return np.array(sorted(recorder.times), np.int64)


def cut_sums(
    ledger: Ledger, times: np.ndarray, sizes: dict[str, int]
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per fact name, the number of facts of `ledger` known at or before each of `times` and
    the sum of their values: two int64 arrays (keys x grid points, times), row ``key * points +
    point``, for codes below ``sizes[kind]`` (the platform has one key).

    A fact known at `known` counts at every time from the first one at or after it. The
    ``exceed_*`` and ``used_*`` facts are binned once per order against their grid (how many
    points lie below the value), not once per grid point: the same figures as the facts of
    `facts` spread over the grid, at a 20th of the work."""
    c = len(times)
    out = {}
    # several facts share their times and keys: each search and combined key made once, for
    # the facts known by the last time only
    counted: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    bases: dict[tuple[int, int], np.ndarray] = {}
    for name, keys, known, values in facts(ledger, spread=False):
        kind, points = _kind(name), _points(name)
        size = 1 if kind == "platform" else sizes[kind]
        if id(known) not in counted:
            first = np.searchsorted(times, known, side="left")
            rows = np.flatnonzero(first < c)
            counted[id(known)] = rows, first[rows]
        rows, first = counted[id(known)]
        if (id(keys), id(known)) not in bases:
            bases[id(keys), id(known)] = keys[rows] * c + first
        flat, values = bases[id(keys), id(known)], values[rows]
        if points == 1:
            n = np.bincount(flat, minlength=size * c).reshape(size, c)
            # float sums of integers stay exact below 2**53 (seconds: 285 million years)
            s = np.bincount(flat, weights=values, minlength=size * c).reshape(size, c)
        else:
            grid = TRANSIT_GRID if name.startswith("exceed_") else FRACTION_GRID
            below = np.searchsorted(grid, values, side="left")  # value > grid[i] for i < below
            binned = np.bincount(flat * (points + 1) + below, minlength=size * c * (points + 1))
            binned = binned.reshape(size, c, points + 1)
            # per point i: the facts with more than i points below their value
            above = np.cumsum(binned[:, :, ::-1], axis=2)[:, :, ::-1][:, :, 1:]
            s = above.transpose(0, 2, 1).reshape(size * points, c)
            n = np.repeat(binned.sum(axis=2), points, axis=0)
        out[name] = np.cumsum(n, axis=1).astype(np.int64), np.cumsum(s, axis=1).astype(np.int64)
    return out


def purchased_by(ledger: Ledger, times: np.ndarray) -> np.ndarray:
    """The orders of `ledger` purchased at or before each of `times`."""
    return np.searchsorted(np.sort(ledger.purchase), times, side="right").astype(np.int64)


@dataclass
class Cuts:
    """Per fact, per key name and grid point, the facts known at each cut-off time and the sum
    of their values; and the orders purchased by each cut-off.

    `tables[name]` has the index (key name, grid point) and int64 columns ``n0..`` (counts) and
    ``s0..`` (sums), one of each per time in `times`.
    """

    times: np.ndarray
    tables: dict[str, pd.DataFrame]
    purchased: np.ndarray

    @classmethod
    def of_ledger(cls, ledger: Ledger, names: dict[str, list[str]], times: np.ndarray) -> Cuts:
        """The counts and sums of the facts of `ledger`, whose codes are the positions of
        `names` (a `Vocabulary`'s names), at `times`."""
        c = len(times)
        sizes = {kind: len(labels) for kind, labels in names.items()}
        tables = {}
        for name, (n, s) in cut_sums(ledger, times, sizes).items():
            kind, points = _kind(name), _points(name)
            labels = [PLATFORM] if kind == "platform" else names[kind]
            rows = np.flatnonzero(n[:, -1])
            index = pd.MultiIndex.from_arrays(
                [np.asarray(labels, dtype=object)[rows // points], rows % points],
                names=["key", "point"],
            )
            tables[name] = pd.DataFrame(
                np.hstack([n[rows], s[rows]]).astype(np.int64),
                index=index,
                columns=[f"n{j}" for j in range(c)] + [f"s{j}" for j in range(c)],
            )
        return cls(times, tables, purchased_by(ledger, times))

    @staticmethod
    def combine(parts: Sequence[Cuts]) -> Cuts:
        """The sum of `parts` (taken at the same times)."""
        first = parts[0]
        if any(not np.array_equal(p.times, first.times) for p in parts):
            raise ValueError("cut-off times differ between the parts")
        tables = {
            name: pd.concat([p.tables[name] for p in parts]).groupby(level=[0, 1]).sum()
            for name in first.tables
        }
        return Cuts(first.times, tables, np.sum([p.purchased for p in parts], axis=0))


class CutHistory(HistoryView):
    """The `HistoryView` of combined `Cuts`, with the `Vocabulary` of its codes.

    Answers only at the cut-off times; a key it never saw (an order whose seller has no fact
    known yet) has no facts. Any other time is a `ValueError`: the features asked at a time
    `cut_times` did not find, which would otherwise be a silently different history.
    """

    def __init__(self, cuts: Cuts):
        self.times = cuts.times
        self.vocabulary = Vocabulary()
        for kind in KINDS:
            keys = [t.index.levels[0] for n, t in cuts.tables.items() if _kind(n) == kind]
            if keys:
                self.vocabulary.codes(kind, keys[0].append(keys[1:]).unique().to_numpy(object))
        c = len(self.times)
        self.n: dict[str, np.ndarray] = {}
        self.s: dict[str, np.ndarray] = {}
        for name, table in cuts.tables.items():
            kind, points = _kind(name), _points(name)
            keys = table.index.get_level_values("key").to_numpy(object)
            codes = (
                np.zeros(len(keys), np.int64)
                if kind == "platform"
                else self.vocabulary.codes(kind, keys)
            )
            flat = codes * points + table.index.get_level_values("point").to_numpy(np.int64)
            size = (int(codes.max()) + 1 if len(codes) else 0) * points
            self.n[name] = np.zeros((size, c), np.int64)
            self.s[name] = np.zeros((size, c), np.int64)
            self.n[name][flat] = table[[f"n{j}" for j in range(c)]].to_numpy(np.int64)
            self.s[name][flat] = table[[f"s{j}" for j in range(c)]].to_numpy(np.int64)
        self.purchased = cuts.purchased

    @classmethod
    def from_sums(
        cls,
        vocabulary: Vocabulary,
        times: np.ndarray,
        sums: dict[str, tuple[np.ndarray, np.ndarray]],
        purchased: np.ndarray,
    ) -> CutHistory:
        """The history of code-indexed `sums` (as `cut_sums` gives them) with the codes of
        `vocabulary` (the object is kept, not copied)."""
        history = cls.__new__(cls)
        history.times = np.asarray(times, np.int64)
        history.vocabulary = vocabulary
        history.n = {name: n for name, (n, _) in sums.items()}
        history.s = {name: s for name, (_, s) in sums.items()}
        history.purchased = np.asarray(purchased, np.int64)
        return history

    def _cut(self, times: np.ndarray) -> np.ndarray:
        j = np.clip(np.searchsorted(self.times, times), 0, len(self.times) - 1)
        if len(self.times) == 0 or not np.array_equal(self.times[j], times):
            raise ValueError(
                "the risk features asked the history at a time that is not one of its cut-offs "
                "(triage/scale/history.py: cut_times)"
            )
        return j

    def count(self, name: str, keys: np.ndarray, times: np.ndarray) -> tuple[np.ndarray, ...]:
        keys = np.asarray(keys, np.int64)
        j = self._cut(np.broadcast_to(np.asarray(times, np.int64), keys.shape))
        n, s = self.n[name], self.s[name]
        known = keys < len(n)
        safe = np.where(known, keys, 0)
        if not len(n):
            return np.zeros(len(keys), np.int64), np.zeros(len(keys), np.int64)
        return np.where(known, n[safe, j], 0), np.where(known, s[safe, j], 0)

    def purchases(self, after: np.ndarray, until: np.ndarray) -> np.ndarray:
        after, until = np.broadcast_arrays(np.asarray(after, np.int64), np.asarray(until, np.int64))
        return self.purchased[self._cut(until)] - self.purchased[self._cut(after)]
