"""Small batches of order and event records (a request body) into the canonical tables, fast.

`validate_orders` and `validate_events` (triage.orders.data.schema) check whole columns with pandas:
right for files of a million rows, but each check costs a fraction of a millisecond however
few the rows, and a request for one order paid more than 20 ms for them. For up to `SMALL`
records of plain JSON values, `small_orders` and `small_events` build the same tables row by
row. They only ever accept: anything unusual (a value of another type, a time that is not
plain ISO 8601, a blank id, a duplicate, a negative number, an order promised before it was
bought...) makes them return None, and the caller runs the column checks, which raise the
error with its usual message. tests/test_orders_schema.py checks that both paths give equal
tables on random records.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from triage.orders.data.fields import (
    COUNT_COLUMNS,
    DATE_COLUMNS,
    EARLIEST_YEAR,
    EVENT_COLUMNS,
    EVENT_TYPES,
    FLAG_COLUMNS,
    LATEST_YEAR,
    NUMBER_COLUMNS,
    ORDER_COLUMNS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
    TIME_COLUMNS,
    UNKNOWN,
)

__all__ = ["SMALL", "small_events", "small_orders"]

SMALL = 100
TIME = re.compile(
    r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:\d{2})?"
)
UTC = "datetime64[ns, UTC]"


class _Unusual(Exception):
    """A value the small path does not take; the column checks decide about it."""


def _time(value: Any) -> pd.Timestamp | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise _Unusual
    text = value.strip()
    if not text:
        return None
    if not TIME.fullmatch(text):
        raise _Unusual
    try:
        stamp = pd.Timestamp(text)
    except ValueError:  # shaped like a time, but no such day or hour (2024-13-45)
        raise _Unusual from None
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    if not EARLIEST_YEAR <= stamp.year <= LATEST_YEAR:
        raise _Unusual
    return stamp


def _text(value: Any, blank: str) -> str:
    if value is None:
        return blank
    if not isinstance(value, str):
        raise _Unusual
    return value.strip() or blank


def _id(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise _Unusual
    return value.strip()


def _number(value: Any) -> float:
    if value is None:
        return np.nan
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _Unusual
    if value != value:
        return np.nan
    if value < 0:
        raise _Unusual
    return float(value)


def _times(values: list[pd.Timestamp | None]) -> pd.Series:
    return pd.Series(pd.to_datetime(values, utc=True)).astype(UTC)


def small_orders(records: Sequence[Mapping[str, Any]]) -> pd.DataFrame | None:
    """The canonical orders table of `records`, or None (let `validate_orders` decide)."""
    if not 0 < len(records) <= SMALL:
        return None
    try:
        columns: dict[str, list] = {name: [] for name in ORDER_COLUMNS}
        for record in records:
            for name in TIME_COLUMNS:
                columns[name].append(_time(record.get(name)))
            columns["order_id"].append(_id(record.get("order_id")))
            for name in TEXT_COLUMNS:
                columns[name].append(_text(record.get(name), UNKNOWN))
            for name in COUNT_COLUMNS:
                count = _number(record.get(name))
                columns[name].append(1 if count != count else max(round(count), 1))
            for name in NUMBER_COLUMNS:
                columns[name].append(_number(record.get(name)))
            for name in FLAG_COLUMNS:
                flag = record.get(name)
                if flag is not None and not isinstance(flag, bool):
                    raise _Unusual
                columns[name].append(bool(flag))
    except _Unusual:
        return None
    if len(set(columns["order_id"])) < len(records):
        return None
    if any(v is None for name in REQUIRED_COLUMNS if name in TIME_COLUMNS for v in columns[name]):
        return None
    out: dict[str, Any] = {name: _times(columns[name]) for name in TIME_COLUMNS}
    for name in DATE_COLUMNS:
        out[name] = out[name].dt.floor("D")
    if (out["promised_date"] < out["purchased_at"].dt.floor("D")).any():
        return None
    if (out["delivered_at"] < out["purchased_at"]).any():
        return None
    out["order_id"] = pd.Series(columns["order_id"], dtype=object)
    # a column no record names is filled as validate_orders fills it (a constant)
    given = set().union(*(record.keys() for record in records))
    for name in TEXT_COLUMNS:
        out[name] = pd.Series(columns[name], dtype=object) if name in given else UNKNOWN
    for name in COUNT_COLUMNS:
        out[name] = pd.Series(columns[name], dtype=np.int64) if name in given else 1
    for name in NUMBER_COLUMNS:
        out[name] = pd.Series(columns[name], dtype=float) if name in given else np.nan
    for name in FLAG_COLUMNS:
        out[name] = pd.Series(columns[name], dtype=bool) if name in given else False
    return pd.DataFrame(out, index=pd.RangeIndex(len(records)))[list(ORDER_COLUMNS)]


def small_events(
    records: Sequence[Mapping[str, Any]], order_ids: set[str] | None
) -> pd.DataFrame | None:
    """The canonical events table of `records` (sorted by order and time), or None."""
    if not 0 < len(records) <= SMALL * 20:
        return None
    try:
        rows = []
        for record in records:
            when = _time(record.get("time"))
            kind = record.get("event_type")
            if when is None or not isinstance(kind, str):
                raise _Unusual
            kind = kind.strip().lower()
            order_id = _id(record.get("order_id"))
            if kind not in EVENT_TYPES or (order_ids is not None and order_id not in order_ids):
                raise _Unusual
            rows.append((order_id, when, kind, _text(record.get("location"), "")))
    except _Unusual:
        return None
    located = any("location" in record for record in records)
    frame = pd.DataFrame(
        {
            "order_id": pd.Series([r[0] for r in rows], dtype=object),
            "time": _times([r[1] for r in rows]),
            "event_type": pd.Series([r[2] for r in rows], dtype=object),
            # as validate_events fills a column no record names: a constant
            "location": pd.Series([r[3] for r in rows], dtype=object) if located else "",
        },
        index=pd.RangeIndex(len(rows)),
    )[list(EVENT_COLUMNS)]
    return frame.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)
