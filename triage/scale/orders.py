"""Risk scores of open orders on Dask, identical to ``RiskScorer.score_frame`` in one process.

The seller, lane, carrier and platform features of an order come from every other order's
facts (triage.orders.risk.history), but a run asks for them at one scoring time and a few fixed
distances before it. No worker needs the facts, only their counts and sums per key at those
cut-off times (triage.scale.history). The run has three steps, each over parts and partitions:

0. time: the scoring time (`--as-of`, else the latest purchase or event time of any part: only
   those columns are read) and the cut-off times the features ask at.
1. history: each orders part gives the columns an order's facts come from, each events part,
   per order, its first ``delivered`` and ``picked_up`` times and its number of events; both
   go through one shuffle by ``order_id`` (Dask's peer-to-peer shuffle, which spills to disk),
   so that each partition holds its orders with their first times. A partition sums its facts per key at the
   cut-offs (`Cuts`); the sums are added up in a tree of tasks, and the total (keys x cut-offs)
   becomes the `CutHistory` copied once to every worker. Each partition also names its orders
   open at the scoring time, by a 64-bit hash of the id.
2. scores: each part is read again, and only the rows of the orders named open (about one in
   ten) are validated and shuffled by ``order_id``; each partition is scored by
   ``RiskScorer.score_frame`` with ``OrderFeatures`` over the shared `CutHistory` and written
   as one Parquet part. The open orders and events found must be those step 1 counted.

Counts and sums are integers, so the features and scores are those of one process over the
whole tables (tests/test_dask_scoring.py). A worker holds the parts and partitions it works on,
the cut-off sums (their size set by the sellers, lanes, carriers and regions) and 8 bytes per
open order; nothing in proportion to the orders of the history (docs/SCALE.md: the figures).
"""

from __future__ import annotations

import copy
import pickle
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import ClusterError, DataFileError
from triage.orders.data.fields import EVENT_COLUMNS, ORDER_COLUMNS
from triage.orders.data.schema import to_utc, validate_events, validate_orders
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import Ledger, Vocabulary
from triage.orders.risk.scoring import RiskScorer, order_states, scoring_time
from triage.orders.risk.snapshots import seconds
from triage.scale.cluster import (
    Progress,
    gather,
    output_dir,
    parquet_parts,
    read_part,
    write_part,
)
from triage.scale.history import CutHistory, Cuts, cut_times

__all__ = ["score_orders"]

#: the order columns its history facts and its state come from (Ledger.from_tables, order_states)
LEDGER_COLUMNS = [
    "order_id",
    "seller_id",
    "seller_region",
    "buyer_region",
    "carrier",
    "purchased_at",
    "promised_date",
    "delivered_at",
    "canceled",
]
FIRSTS = ("delivered", "picked_up")  # the event types whose first time the facts need
FIRSTS_COLUMNS = ["order_id", "n", *FIRSTS]
EVENTS_ROW = "_events_row"  # in a shuffle of both tables: True for a row of the events table
FAN_IN = 8  # partitions' sums added up per task of the tree


# -- reading parts ----------------------------------------------------------------------------
def _orders_part(part: str, empty: pd.DataFrame) -> pd.DataFrame:
    """The validated orders of one part (`empty` for a part without rows)."""
    frame = read_part(part)
    return empty if frame.empty else validate_orders(frame, where=part)


def _orders_sample(part: str) -> pd.DataFrame | None:
    """The first validated order of a part; None for a part without rows."""
    frame = read_part(part)
    return None if frame.empty else validate_orders(frame, where=part).iloc[:1]


def _events_part(part: str) -> pd.DataFrame:
    """The validated events of one part (the orders they refer to are checked after the
    shuffle, where each order meets its events)."""
    return validate_events(read_part(part), where=part)


def _no_events() -> pd.DataFrame:
    return validate_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))


def _latest(part: str, column: str) -> int | None:
    """The latest time of `column` in one part, in seconds (None for a part without rows), as
    validation reads it."""
    frame = read_part(part, [column])
    times = to_utc(frame[column], where=part, column=column, frame=frame).dropna()
    return int(seconds(times).max()) if len(times) else None


def _ledger_orders(part: str, empty: pd.DataFrame) -> pd.DataFrame:
    return _orders_part(part, empty)[LEDGER_COLUMNS]


def _per_order(ids: np.ndarray, n: np.ndarray, firsts: dict[str, pd.Series]) -> pd.DataFrame:
    """Per distinct order id of `ids`: the sum of `n` and the earliest of each of `firsts`
    (NaT: none)."""
    codes, unique = pd.factorize(np.asarray(ids, dtype=object))
    counts = np.bincount(codes, weights=np.asarray(n, float), minlength=len(unique))
    out = pd.DataFrame({"order_id": pd.Series(unique, dtype=object), "n": counts.astype(np.int64)})
    for kind, times in firsts.items():
        known = times.notna().to_numpy()
        earliest = times[known].groupby(codes[known]).min()
        out[kind] = earliest.reindex(pd.RangeIndex(len(unique))).astype(times.dtype)
    return out


def _firsts(events: pd.DataFrame) -> pd.DataFrame:
    """Per order of `events`: its number of events and first time of each of `FIRSTS`."""
    firsts = {k: events["time"].where(events["event_type"] == k) for k in FIRSTS}
    return _per_order(events["order_id"], np.ones(len(events)), firsts)


def _events_firsts(part: str) -> pd.DataFrame:
    return _firsts(_events_part(part))


def _hashes(ids: pd.Series | np.ndarray) -> np.ndarray:
    return pd.util.hash_array(np.asarray(ids, dtype=object))


def _listed(ids: pd.Series, listed: np.ndarray) -> np.ndarray:
    """Which of `ids` have their hash in sorted `listed` (a false positive now and then only
    brings an order that scoring then finds not open)."""
    if not len(listed):
        return np.zeros(len(ids), bool)
    hashes = _hashes(ids)
    at = np.minimum(np.searchsorted(listed, hashes), len(listed) - 1)
    return listed[at] == hashes


def _listed_rows(part: str, listed: np.ndarray) -> pd.DataFrame:
    """The rows of one part whose order id, read as validation reads ids, is `listed`: only
    those are validated again (the history step validated every row; `score_orders` checks
    that the open orders and events it then finds are the ones that step counted)."""
    frame = read_part(part)
    if frame.empty:
        return frame
    return frame[_listed(frame["order_id"].astype("string").str.strip(), listed)]


def _open_orders(part: str, empty: pd.DataFrame, listed: np.ndarray) -> pd.DataFrame:
    frame = _listed_rows(part, listed)
    return empty if frame.empty else validate_orders(frame, where=part)


def _open_events(part: str, listed: np.ndarray) -> pd.DataFrame:
    return validate_events(_listed_rows(part, listed), where=part)


# -- checks a shuffled partition makes as one process does on whole tables ----------------------
def _unique(orders: pd.DataFrame) -> pd.DataFrame:
    orders = orders.reset_index(drop=True)
    duplicated = orders["order_id"].duplicated()
    if duplicated.any():
        first = orders["order_id"][duplicated].iloc[0]
        raise DataFileError(
            f"orders: {int(duplicated.sum())} duplicate order_id value(s) across parts "
            f"(first: {first}); each order must appear once"
        )
    return orders


def _no_strays(orders: pd.DataFrame, ids: pd.Series, counts: pd.Series) -> None:
    """No order id of `ids` (with `counts` events each) missing from `orders`."""
    known = pd.Index(orders["order_id"].to_numpy(object))
    stray = known.get_indexer(ids.to_numpy(object)) < 0
    if stray.any():
        raise DataFileError(
            f"events: {int(counts[stray].sum())} event(s) refer to orders that are not in the "
            f"orders table (first: {ids[stray].iloc[0]})"
        )


# -- step 1: the history ------------------------------------------------------------------------
@dataclass
class _Summary:
    """What the history step keeps of partitions: the sums at the cut-offs, the hashes of the
    open orders' ids (sorted), and the number of orders."""

    cuts: Cuts
    listed: np.ndarray
    orders: int
    open_orders: int
    open_events: int


def _summary(orders: pd.DataFrame, firsts: pd.DataFrame, times, t: int) -> _Summary:
    """One partition's sums at the cut-off `times` and its orders open at `t`."""
    orders = _unique(orders).astype({"order_id": object})
    events = _no_events()
    counts = np.zeros(len(orders), np.int64)  # events per order
    if len(firsts):
        # an order's events may come from several parts: the first of each kind, all counted
        firsts = _per_order(firsts["order_id"], firsts["n"], {k: firsts[k] for k in FIRSTS})
        _no_strays(orders, firsts["order_id"], firsts["n"])
        at = pd.Index(orders["order_id"]).get_indexer(firsts["order_id"].to_numpy(object))
        counts[at] = firsts["n"].to_numpy()
        events = pd.concat(
            [
                pd.DataFrame(
                    {"order_id": firsts["order_id"], "time": firsts[k], "event_type": k}
                ).dropna(subset=["time"])
                for k in FIRSTS
            ],
            ignore_index=True,
        )
    vocabulary = Vocabulary()
    if orders.empty:
        cuts = Cuts.of_ledger(Ledger.empty(), vocabulary.names(), times)
        return _Summary(cuts, _hashes([]), 0, 0, 0)
    ledger = Ledger.from_tables(orders, events, vocabulary)
    cuts = Cuts.of_ledger(ledger, vocabulary.names(), times)
    open_ = order_states(orders, events, t) == "open"
    listed = np.unique(_hashes(orders["order_id"][open_]))
    return _Summary(cuts, listed, len(orders), int(open_.sum()), int(counts[open_].sum()))


def _summary_of(rows: pd.DataFrame, times, t: int) -> _Summary:
    return _summary(*_sides(rows, LEDGER_COLUMNS, FIRSTS_COLUMNS), times, t)


def _combined(parts: Sequence[_Summary]) -> _Summary:
    return _Summary(
        Cuts.combine([p.cuts for p in parts]),
        np.unique(np.concatenate([p.listed for p in parts])),
        *(sum(getattr(p, f) for p in parts) for f in ("orders", "open_orders", "open_events")),
    )


def _history(total: _Summary) -> CutHistory:
    return CutHistory(total.cuts)


def _listed_of(total: _Summary) -> np.ndarray:
    return total.listed


def _counts_of(total: _Summary) -> tuple[int, int, int]:
    return total.orders, total.open_orders, total.open_events


def _size(value: object) -> int:
    """Bytes of `value` pickled: what a worker receives."""
    return len(pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL))


def _tree(client: Any, futures: list) -> Any:
    """The future of the sum of `futures`' summaries, added `FAN_IN` at a time."""
    while len(futures) > 1:
        futures = [
            client.submit(_combined, futures[i : i + FAN_IN])
            for i in range(0, len(futures), FAN_IN)
        ]
    return futures[0] if len(futures) == 1 else client.submit(_combined, futures)


# -- step 2: the scores -------------------------------------------------------------------------
def _score(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    history: CutHistory,
    t: int,
    scorer: RiskScorer,
    out: str,
    index: int,
) -> tuple[int, int, int, int]:
    """Score one partition of open orders against the shared history and write its part:
    (scored, flagged, orders, events) of the partition."""
    orders = orders.reset_index(drop=True)
    events = events.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)
    read = len(orders), len(events)
    if orders.empty:
        return 0, 0, *read
    as_of = pd.Timestamp(t, unit="s", tz="UTC")
    # a copy: the features code the names of these orders, and threads share the history
    vocabulary = copy.deepcopy(history.vocabulary)
    features = OrderFeatures(orders, events, history=history, vocabulary=vocabulary)
    frame = scorer.score_frame(orders, events, as_of=as_of, features=features)
    if frame.empty:
        return 0, 0, *read
    frame = frame.drop(columns="row")
    frame.insert(1, "as_of", as_of)
    write_part(frame, out, index)
    return len(frame), int(frame["flagged"].sum()), *read


def _score_of(rows: pd.DataFrame, *args) -> tuple[int, int, int, int]:
    return _score(*_sides(rows, list(ORDER_COLUMNS), list(EVENT_COLUMNS)), *args)


# -- the run ------------------------------------------------------------------------------------
def _sample(client: Any, parts: Sequence[str]) -> pd.DataFrame:
    """The first validated order of the first part with rows."""
    for index, part in enumerate(parts):
        future = client.submit(_orders_sample, part, pure=False)
        (sample,) = gather([future], [f"part {index} of {len(parts)}"])
        if sample is not None:
            return sample
    raise DataFileError(f"{parts[0]} ...: no orders in any part")


def _scoring_time(
    client: Any,
    order_parts: Sequence[str],
    event_parts: Sequence[str] | None,
    progress: Progress | None,
) -> int:
    """The latest purchase or event time of all parts, in seconds."""
    futures = [client.submit(_latest, p, "purchased_at", pure=False) for p in order_parts]
    labels = [f"partition {i} of {len(order_parts)}" for i in range(len(order_parts))]
    for j, part in enumerate(event_parts or []):
        futures.append(client.submit(_latest, part, "time", pure=False))
        labels.append(f"events part {j} of {len(event_parts)}")
    latest = [t for t in gather(futures, labels, progress, stage="time") if t is not None]
    if not latest:
        raise DataFileError(f"{order_parts[0]} ...: no orders in any part")
    return max(latest)


def _widened(frame: pd.DataFrame, meta: pd.DataFrame, events: bool) -> pd.DataFrame:
    """`frame` with the columns of `meta`, those it lacks blank (None, NaT, NaN, 0 or False),
    and `EVENTS_ROW` saying which table it comes from."""
    n = len(frame)
    out = {}
    for column, dtype in meta.dtypes.items():
        if column == EVENTS_ROW:
            out[column] = np.full(n, events)
        elif column in frame.columns:
            out[column] = frame[column].reset_index(drop=True)
        else:
            blank = np.zeros(n, dtype) if dtype.kind in "biu" else None
            out[column] = pd.Series(blank, index=range(n), dtype=dtype)
    return pd.DataFrame(out, index=range(n)).astype(meta.dtypes.to_dict())


def _sides(rows: pd.DataFrame, left: list[str], right: list[str]) -> tuple[pd.DataFrame, ...]:
    """The two tables of a shuffled partition of `_widened` rows."""
    events = rows[EVENTS_ROW].to_numpy(bool)
    return (
        rows.loc[~events, left].reset_index(drop=True),
        rows.loc[events, right].reset_index(drop=True),
    )


def _shuffled(orders, events, n: int, events_meta: pd.DataFrame) -> list:
    """The rows of both tables (`events` may be None) in `n` partitions by ``order_id``, as
    dask.delayed objects: every order with its events. One shuffle, so that a partition can be
    used as soon as it is ready (with two, a worker would hold every partition of the first
    until the second ends)."""
    import dask.dataframe as dd

    columns = {**events_meta.dtypes.to_dict(), **orders._meta.dtypes.to_dict()}
    columns[EVENTS_ROW] = np.dtype(bool)
    meta = pd.DataFrame({c: pd.Series(dtype=d) for c, d in columns.items()})
    rows = orders.map_partitions(_widened, meta, False, meta=meta)
    if events is not None:
        rows = dd.concat([rows, events.map_partitions(_widened, meta, True, meta=meta)])
    return rows.shuffle(on="order_id", npartitions=n, shuffle_method="p2p").to_delayed()


def score_orders(
    client: Any,
    orders_url: str,
    events_url: str | None,
    scorer: RiskScorer,
    out: str,
    *,
    as_of: pd.Timestamp | None = None,
    progress: Progress | None = None,
) -> dict:
    """Score the open orders of Parquet `orders_url` (with the events of `events_url`) on the
    cluster of `client`, writing one Parquet part per partition under `out`: order_id, as_of,
    risk, flagged and the features, as ``score_frame`` gives them. Returns a summary."""
    import dask
    import dask.dataframe as dd

    out = output_dir(out)
    order_parts = parquet_parts(orders_url, "--data")
    event_parts = parquet_parts(events_url, "--events") if events_url else None
    n = len(order_parts)
    labels = [f"partition {i} of {n}" for i in range(n)]
    sample = _sample(client, order_parts)
    meta = sample.iloc[:0]

    # step 0: the scoring time and the cut-off times the features ask the history at
    if as_of is None:
        t = _scoring_time(client, order_parts, event_parts, progress)
    else:
        t = scoring_time(meta, _no_events(), as_of)
    times = cut_times(sample, t)

    # object columns stay object: the scoring code is written for what validation returns
    with dask.config.set({"dataframe.convert-string": False}):
        # step 1: the sums per key at the cut-offs, partition by partition, then added up
        ledger_meta = meta[LEDGER_COLUMNS]
        orders = dd.from_map(
            _ledger_orders, order_parts, empty=ledger_meta, meta=ledger_meta,
            enforce_metadata=False,
        )  # fmt: skip
        firsts_meta = _firsts(_no_events())
        firsts = None
        if event_parts is not None:
            firsts = dd.from_map(
                _events_firsts, event_parts, meta=firsts_meta, enforce_metadata=False
            )
        partitions = _shuffled(orders, firsts, n, firsts_meta)
        summaries = client.compute([dask.delayed(_summary_of)(p, times, t) for p in partitions])
        gather(summaries, labels, progress, stage="history", fetch=False)
        total = _tree(client, summaries)
        del summaries  # now in the total
        history = client.submit(_history, total)
        listed = client.submit(_listed_of, total)
        n_orders, n_open, n_open_events = client.submit(_counts_of, total).result()
        sizes = client.submit(_size, history).result(), client.submit(_size, listed).result()
        client.replicate([history, listed])  # once to every worker
        del total

        # step 2: only the open orders and their events, shuffled and scored
        orders = dd.from_delayed(
            [dask.delayed(_open_orders)(p, meta, listed) for p in order_parts],
            meta=meta,
            verify_meta=False,
        )
        events = None
        if event_parts is not None:
            events = dd.from_delayed(
                [dask.delayed(_open_events)(p, listed) for p in event_parts],
                meta=_no_events(),
                verify_meta=False,
            )
        partitions = _shuffled(orders, events, n, _no_events())
        scorer_future = client.scatter(scorer, broadcast=True)
        scored = client.compute(
            [
                dask.delayed(_score_of)(p, history, t, scorer_future, out, i)
                for i, p in enumerate(partitions)
            ]
        )
        counts = gather(scored, labels, progress, stage="scoring")
    found = sum(c[2] for c in counts), sum(c[3] for c in counts)
    if found != (n_open, n_open_events):
        raise ClusterError(
            f"the scoring step read {found[0]} open orders with {found[1]} events where the "
            f"history step found {n_open} with {n_open_events}: did the input change during "
            "the run?"
        )
    return {
        "orders": n_orders,
        "partitions": n,
        "scored": sum(c[0] for c in counts),
        "flagged": sum(c[1] for c in counts),
        "parts": sum(1 for c in counts if c[0]),
        "as_of": pd.Timestamp(t, unit="s", tz="UTC").isoformat(),
        "threshold": scorer.threshold,
        "out": out,
        "shared_bytes": {"history": sizes[0], "open_orders": sizes[1]},
    }
