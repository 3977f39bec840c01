"""Risk scores of open orders on Dask, identical to ``RiskScorer.score_frame`` in one process.

The seller, lane, carrier and platform features of an order come from every other order
(triage.orders.risk.history), so partitions cannot be scored alone. The run has two passes
over the input, each reading it again rather than holding it in memory:

1. history: the orders and events parts are read and validated part by part, and shuffled by
   ``order_id`` (dask.dataframe) into partitions that hold each order with all its events. Each
   partition gives its `Ledger` (a few integers per order) and the names it coded; one task
   merges the names into one `Vocabulary`, re-codes the ledgers with it and builds the `History`
   of all orders, with the scoring time (`--as-of`, else the latest moment any partition knows).
2. scores: each partition is scored by ``RiskScorer.score_frame`` with ``OrderFeatures`` over
   that shared history (the hook triage.orders.risk.history_cache uses), and written as one
   Parquet part of the output directory.

History is additive with integer counts and sums, so the features, and the scores, are those
of one process over the whole tables (tests/test_dask_scoring.py). No step brings the input
to the client; each worker holds the partitions it scores and one copy of the history, whose
size grows with the number of orders (docs/SCALE.md gives the figures).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import DataFileError
from triage.orders.data.fields import EVENT_COLUMNS
from triage.orders.data.schema import validate_events, validate_orders
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import KINDS, History, Ledger, Vocabulary
from triage.orders.risk.scoring import RiskScorer, scoring_time
from triage.scale.cluster import (
    Progress,
    gather,
    output_dir,
    parquet_parts,
    read_part,
    write_part,
)

__all__ = ["score_orders"]


def _orders_part(part: str, empty: pd.DataFrame) -> pd.DataFrame:
    """The validated orders of one part (`empty` for a part without rows)."""
    frame = read_part(part)
    return empty if frame.empty else validate_orders(frame, where=part)


def _orders_columns(part: str) -> pd.DataFrame | None:
    """No rows, the columns and types of validated orders; None for a part without rows."""
    frame = read_part(part)
    return None if frame.empty else validate_orders(frame, where=part).iloc[:0]


def _events_part(part: str) -> pd.DataFrame:
    """The validated events of one part (the orders they refer to are checked after the
    shuffle, where each order meets its events)."""
    return validate_events(read_part(part), where=part)


def _no_events() -> pd.DataFrame:
    return validate_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))


def _orders_meta(client: Any, parts: Sequence[str]) -> pd.DataFrame:
    """The columns and types of validated orders: those of the first part with rows."""
    for index, part in enumerate(parts):
        future = client.submit(_orders_columns, part, pure=False)
        (empty,) = gather([future], [f"part {index} of {len(parts)}"])
        if empty is not None:
            return empty
    raise DataFileError(f"{parts[0]} ...: no orders in any part")


def _paired(orders: pd.DataFrame, events: pd.DataFrame | None) -> tuple[pd.DataFrame, ...]:
    """A shuffled partition's orders and events, checked as one process checks whole tables."""
    orders = orders.reset_index(drop=True)
    duplicated = orders["order_id"].duplicated()
    if duplicated.any():
        first = orders["order_id"][duplicated].iloc[0]
        raise DataFileError(
            f"orders: {int(duplicated.sum())} duplicate order_id value(s) across parts "
            f"(first: {first}); each order must appear once"
        )
    if events is None:
        return orders, _no_events()
    stray = ~events["order_id"].isin(orders["order_id"])
    if stray.any():
        raise DataFileError(
            f"events: {int(stray.sum())} event(s) refer to orders that are not in the orders "
            f"table (first: {events['order_id'][stray].iloc[0]})"
        )
    events = events.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)
    return orders, events


@dataclass
class _Summary:
    """What pass 1 keeps of a partition: its ledger in its own codes, and the names coded."""

    ledger: Ledger
    names: dict[str, list[str]]
    latest: int | None  # the scoring time this partition alone would choose
    orders: int


def _summary(orders: pd.DataFrame, events: pd.DataFrame | None, as_of) -> _Summary:
    orders, events = _paired(orders, events)
    vocabulary = Vocabulary()
    if orders.empty:
        return _Summary(Ledger.empty(), vocabulary.names(), None, 0)
    ledger = Ledger.from_tables(orders, events, vocabulary)
    return _Summary(ledger, vocabulary.names(), scoring_time(orders, events, as_of), len(orders))


@dataclass
class Shared:
    """What every partition is scored against: the history of all orders, the vocabulary of
    its codes, and the scoring time in seconds."""

    history: History
    vocabulary: Vocabulary
    time: int
    orders: int


def _recoded(ledger: Ledger, names: dict[str, list[str]], vocabulary: Vocabulary) -> Ledger:
    """`ledger` with the codes of `vocabulary` instead of those of its partition (`names`)."""
    recoded = {}
    for kind in KINDS:
        table = vocabulary.codes(kind, np.asarray(names[kind], dtype=object))
        recoded[kind] = table[getattr(ledger, kind)] if len(table) else getattr(ledger, kind)
    return replace(ledger, **recoded)


def _shared(summaries: list[_Summary]) -> Shared:
    vocabulary = Vocabulary()
    for summary in summaries:
        for kind, names in summary.names.items():
            vocabulary.codes(kind, np.asarray(names, dtype=object))
    ledgers = [_recoded(s.ledger, s.names, vocabulary) for s in summaries]
    latest = [s.latest for s in summaries if s.latest is not None]
    if not latest:
        raise DataFileError("orders: no orders in any part")
    return Shared(
        History(Ledger.concat(ledgers)),
        vocabulary,
        max(latest),
        sum(s.orders for s in summaries),
    )


def _score(
    orders: pd.DataFrame,
    events: pd.DataFrame | None,
    shared: Shared,
    scorer: RiskScorer,
    out: str,
    index: int,
) -> tuple[int, int]:
    """Score one partition against the shared history and write its part: (scored, flagged)."""
    orders, events = _paired(orders, events)
    if orders.empty:
        return 0, 0
    as_of = pd.Timestamp(shared.time, unit="s", tz="UTC")
    features = OrderFeatures(orders, events, history=shared.history, vocabulary=shared.vocabulary)
    frame = scorer.score_frame(orders, events, as_of=as_of, features=features)
    if frame.empty:
        return 0, 0
    frame = frame.drop(columns="row")
    frame.insert(1, "as_of", as_of)
    write_part(frame, out, index)
    return len(frame), int(frame["flagged"].sum())


def _partitions(client: Any, orders_url: str, events_url: str | None) -> list[tuple]:
    """(orders, events) per partition as dask.delayed objects: every order with its events."""
    import dask
    import dask.dataframe as dd

    order_parts = parquet_parts(orders_url, "--data")
    event_parts = parquet_parts(events_url, "--events") if events_url else None
    meta = _orders_meta(client, order_parts)
    n = len(order_parts)
    # object columns stay object: the scoring code is written for what validation returns
    with dask.config.set({"dataframe.convert-string": False}):
        orders = dd.from_map(
            _orders_part, order_parts, empty=meta, meta=meta, enforce_metadata=False
        ).shuffle(on="order_id", npartitions=n, shuffle_method="tasks")
        order_parts_delayed = orders.to_delayed()
        if event_parts is None:
            return [(o, None) for o in order_parts_delayed]
        events = dd.from_map(
            _events_part, event_parts, meta=_no_events(), enforce_metadata=False
        ).shuffle(on="order_id", npartitions=n, shuffle_method="tasks")
        return list(zip(order_parts_delayed, events.to_delayed(), strict=True))


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

    out = output_dir(out)
    pairs = _partitions(client, orders_url, events_url)
    labels = [f"partition {i} of {len(pairs)}" for i in range(len(pairs))]

    # pass 1: the history of every order, built once on a worker
    summaries = client.compute([dask.delayed(_summary)(o, e, as_of) for o, e in pairs])
    gather(summaries, labels, progress, stage="history", fetch=False)
    shared = client.submit(_shared, summaries)
    gather([shared], ["the history of all partitions"], fetch=False)
    del summaries  # the ledgers, now in the history
    time, n_orders = client.submit(lambda s: (s.time, s.orders), shared).result()

    # pass 2: every partition against it
    scorer_future = client.scatter(scorer, broadcast=True)
    scored = client.compute(
        [
            dask.delayed(_score)(o, e, shared, scorer_future, out, i)
            for i, (o, e) in enumerate(pairs)
        ]
    )
    counts = gather(scored, labels, progress, stage="scoring")
    return {
        "orders": n_orders,
        "partitions": len(pairs),
        "scored": sum(c[0] for c in counts),
        "flagged": sum(c[1] for c in counts),
        "parts": sum(1 for c in counts if c[0]),
        "as_of": pd.Timestamp(time, unit="s", tz="UTC").isoformat(),
        "threshold": scorer.threshold,
        "out": out,
    }
