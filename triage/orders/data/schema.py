"""The canonical order and tracking-event tables, validated at the edges.

Orders, one row per order (only the first three columns are required)::

    order_id        str      unique id (ids are always text)
    purchased_at    time     when the buyer paid (timezone-aware UTC; naive times are read as UTC)
    promised_date   date     the delivery date promised to the buyer; on time = delivered that
                             day or before (stored as midnight UTC of that day)
    ship_by         time     the seller's hand-over deadline, when the platform sets one
    seller_id, seller_region, buyer_region, carrier, service_level, category     text
    n_items (int), weight_kg, price, freight, distance_km (float >= 0)
    delivered_at    time     OUTCOME: when the buyer received it; never a feature
    canceled        bool     OUTCOME: canceled orders carry no late/on-time label

Tracking events, one row per event::

    order_id, time, event_type (one of EVENT_TYPES), location (text, optional)

`validate_orders` and `validate_events` return clean copies with exactly these columns and
types, or raise `DataFileError` with one line naming the table, the column, the first bad row and
what to do. Inner code trusts frames that went through them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from triage.errors import DataFileError
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
    ORDER_FIELDS,
    REQUIRED_COLUMNS,
    TEXT_COLUMNS,
    TIME_COLUMNS,
    UNKNOWN,
)
from triage.orders.data.records import small_events, small_orders

__all__ = [
    "events_from_records",
    "orders_from_records",
    "validate_events",
    "validate_orders",
    "with_every_field",
]


def _first_bad(mask: np.ndarray | pd.Series, frame: pd.DataFrame, column: str) -> str:
    """'row N (value ...)' of the first True in `mask`, 1-based like a spreadsheet."""
    position = int(np.flatnonzero(np.asarray(mask))[0])
    value = frame[column].iloc[position] if column in frame.columns else None
    return f"first at row {position + 1}: {value!r}"


def to_utc(values: pd.Series, *, where: str, column: str, frame: pd.DataFrame) -> pd.Series:
    """Parse times to timezone-aware UTC (naive values are taken as UTC); blanks become NaT."""
    raw = values
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    elif raw.isna().all():  # e.g. no ship_by in any order of a request: nothing to parse
        return pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
    else:
        text = raw.astype("string").str.strip()
        blank = text.isna() | (text == "")
        try:
            parsed = pd.to_datetime(text.where(~blank), errors="coerce", utc=True, format="mixed")
        except (ValueError, TypeError):  # pandas raises on mixed offsets in some versions
            parsed = pd.Series(pd.NaT, index=raw.index, dtype="datetime64[ns, UTC]")
        bad = parsed.isna() & ~blank
        if bad.any():
            raise DataFileError(
                f"{where}: column {column!r} has {int(bad.sum())} value(s) that are not dates or "
                f"times ({_first_bad(bad, frame, column)}); use ISO 8601 such as 2024-05-01T13:45:00Z"
            )
    if parsed.dt.tz is None:
        parsed = parsed.dt.tz_localize("UTC")
    else:
        parsed = parsed.dt.tz_convert("UTC")
    years = parsed.dt.year
    outside = (years < EARLIEST_YEAR) | (years > LATEST_YEAR)
    if outside.any():
        raise DataFileError(
            f"{where}: column {column!r} has {int(outside.sum())} time(s) outside the years "
            f"{EARLIEST_YEAR}-{LATEST_YEAR} ({_first_bad(outside, frame, column)})"
        )
    return parsed.dt.as_unit("ns")


def _ids(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    values = frame[column]
    text = values.astype("string").str.strip()
    empty = text.isna() | (text == "")
    if empty.any():
        raise DataFileError(
            f"{where}: {int(empty.sum())} empty value(s) in column {column!r} "
            f"({_first_bad(empty, frame, column)})"
        )
    # ids read as numbers by a careless reader lose leading zeros: say so rather than guess
    if pd.api.types.is_float_dtype(values):
        raise DataFileError(
            f"{where}: column {column!r} was read as numbers; ids must be text (quote them or "
            "read the file with ids as strings)"
        )
    return text.astype(object)


def _numbers(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    raw = frame[column]
    if pd.api.types.is_numeric_dtype(raw) and not pd.api.types.is_bool_dtype(raw):
        parsed = raw.astype(float)  # numbers already (JSON, Parquet): no text to check
        bad = pd.Series(False, index=raw.index)
    else:
        parsed = pd.to_numeric(raw, errors="coerce")
        blank = raw.isna() | (raw.astype("string").str.strip() == "")
        bad = parsed.isna() & ~blank
    if bad.any():
        raise DataFileError(
            f"{where}: column {column!r} has {int(bad.sum())} non-numeric value(s) "
            f"({_first_bad(bad, frame, column)})"
        )
    negative = parsed < 0
    if negative.any():
        raise DataFileError(
            f"{where}: column {column!r} has {int(negative.sum())} negative value(s) "
            f"({_first_bad(negative, frame, column)})"
        )
    return parsed.astype(float)


def _booleans(frame: pd.DataFrame, column: str, where: str) -> pd.Series:
    raw = frame[column]
    if pd.api.types.is_bool_dtype(raw):
        return raw.fillna(False).astype(bool)
    text = raw.astype("string").str.strip().str.lower().fillna("")
    mapping = {
        "true": True,
        "1": True,
        "yes": True,
        "false": False,
        "0": False,
        "no": False,
        "": False,
    }
    bad = ~text.isin(list(mapping))
    if bad.any():
        raise DataFileError(
            f"{where}: column {column!r} must be true/false ({_first_bad(bad, frame, column)})"
        )
    return text.map(mapping).astype(bool)


def validate_orders(frame: pd.DataFrame, where: str = "orders") -> pd.DataFrame:
    """A clean copy of an orders table with the canonical columns; raises `DataFileError`."""
    if not isinstance(frame, pd.DataFrame):
        raise DataFileError(f"{where}: expected a table of orders, got {type(frame).__name__}")
    if frame.empty:
        raise DataFileError(f"{where}: no orders")
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:20]))
        raise DataFileError(f"{where}: missing column(s) {', '.join(missing)} (columns: {have})")
    frame = frame.reset_index(drop=True)
    # columns gathered in a dict and made a frame once: inserting them one by one costs more
    # than the checks on a request of a few orders
    out: dict[str, Any] = {}
    out["order_id"] = _ids(frame, "order_id", where)
    duplicated = out["order_id"].duplicated()
    if duplicated.any():
        raise DataFileError(
            f"{where}: {int(duplicated.sum())} duplicate order_id value(s) "
            f"({_first_bad(duplicated, frame, 'order_id')}); each order must appear once"
        )
    for column in TIME_COLUMNS:
        if column in frame.columns:
            out[column] = to_utc(frame[column], where=where, column=column, frame=frame)
        else:
            out[column] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[ns, UTC]")
    for column in (c for c in REQUIRED_COLUMNS if c in TIME_COLUMNS):
        empty = out[column].isna()
        if empty.any():
            raise DataFileError(
                f"{where}: {int(empty.sum())} empty value(s) in required column {column!r} "
                f"({_first_bad(empty, frame, column)})"
            )
    for column in DATE_COLUMNS:
        out[column] = out[column].dt.floor("D")
    early = out["promised_date"] < out["purchased_at"].dt.floor("D")
    if early.any():
        raise DataFileError(
            f"{where}: {int(early.sum())} order(s) promised before they were purchased "
            f"({_first_bad(early, frame, 'order_id')})"
        )
    before = out["delivered_at"] < out["purchased_at"]
    if before.any():
        raise DataFileError(
            f"{where}: {int(before.sum())} order(s) delivered before they were purchased "
            f"({_first_bad(before, frame, 'order_id')})"
        )
    for column in TEXT_COLUMNS:
        if column in frame.columns:
            text = frame[column].astype("string").str.strip()
            out[column] = text.mask(text.isna() | (text == ""), UNKNOWN).astype(object)
        else:
            out[column] = UNKNOWN
    for column in COUNT_COLUMNS:
        out[column] = (
            _numbers(frame, column, where).fillna(1).clip(lower=1).round().astype(int)
            if column in frame.columns
            else 1
        )
    for column in NUMBER_COLUMNS:
        out[column] = _numbers(frame, column, where) if column in frame.columns else np.nan
    for column in FLAG_COLUMNS:
        out[column] = _booleans(frame, column, where) if column in frame.columns else False
    return pd.DataFrame(out, index=frame.index)[list(ORDER_COLUMNS)]


#: what an order table holds in a field it was not given, by the field's kind
ABSENT: dict[str, Any] = {
    "time": pd.NaT,
    "date": pd.NaT,
    "text": UNKNOWN,
    "count": 1,
    "number": np.nan,
    "flag": False,
}


def with_every_field(orders: pd.DataFrame) -> pd.DataFrame:
    """`orders` (already canonical in the fields it has, as the simulator and the Olist adapter
    build them) with the canonical columns in order, the fields it lacks filled as validation
    fills an absent field."""
    out = orders.copy()
    for field in ORDER_FIELDS:
        if field.name not in out.columns:
            if field.required:
                raise DataFileError(f"orders: missing column {field.name}")
            value = ABSENT[field.kind]
            out[field.name] = (
                pd.Series(value, index=out.index, dtype="datetime64[ns, UTC]")
                if field.kind in ("time", "date")
                else value
            )
    return out[list(ORDER_COLUMNS)]


def validate_events(
    frame: pd.DataFrame, order_ids: Iterable[str] | None = None, where: str = "events"
) -> pd.DataFrame:
    """A clean copy of a tracking-event table sorted by order and time; raises `DataFileError`.

    With `order_ids`, events of orders that are not in that set are an error (they would be
    silently ignored otherwise).
    """
    if not isinstance(frame, pd.DataFrame):
        raise DataFileError(f"{where}: expected a table of events, got {type(frame).__name__}")
    missing = [c for c in ("order_id", "time", "event_type") if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:20]))
        raise DataFileError(f"{where}: missing column(s) {', '.join(missing)} (columns: {have})")
    frame = frame.reset_index(drop=True)
    out = pd.DataFrame(index=frame.index)
    if frame.empty:
        return pd.DataFrame(
            {
                "order_id": pd.Series(dtype=object),
                "time": pd.Series(dtype="datetime64[ns, UTC]"),
                "event_type": pd.Series(dtype=object),
                "location": pd.Series(dtype=object),
            }
        )
    out["order_id"] = _ids(frame, "order_id", where)
    out["time"] = to_utc(frame["time"], where=where, column="time", frame=frame)
    empty = out["time"].isna()
    if empty.any():
        raise DataFileError(
            f"{where}: {int(empty.sum())} event(s) without a time ({_first_bad(empty, frame, 'time')})"
        )
    kind = frame["event_type"].astype("string").str.strip().str.lower()
    bad = ~kind.isin(EVENT_TYPES)
    if bad.any():
        raise DataFileError(
            f"{where}: {int(bad.sum())} unknown event_type value(s) "
            f"({_first_bad(bad, frame, 'event_type')}); allowed: {', '.join(EVENT_TYPES)}"
        )
    out["event_type"] = kind.astype(object)
    if "location" in frame.columns:
        location = frame["location"].astype("string").str.strip()
        out["location"] = location.mask(location.isna() | (location == ""), "").astype(object)
    else:
        out["location"] = ""
    if order_ids is not None:
        known = pd.Index(order_ids)
        stray = ~out["order_id"].isin(known)
        if stray.any():
            raise DataFileError(
                f"{where}: {int(stray.sum())} event(s) refer to orders that are not in the orders "
                f"table ({_first_bad(stray, frame, 'order_id')})"
            )
    return out.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)


def orders_from_records(
    records: Iterable[Mapping[str, Any]], where: str = "orders"
) -> pd.DataFrame:
    """Validate orders given as dicts (a request body, say) into the canonical table."""
    records = list(records)
    if not records:
        raise DataFileError(f"{where}: no orders")
    if not all(isinstance(r, Mapping) for r in records):
        raise DataFileError(f"{where}: every order must be an object with named fields")
    small = small_orders(records)  # a few plain records: the same table, without pandas' cost
    if small is not None:
        return small
    return validate_orders(pd.DataFrame.from_records(records), where=where)


def events_from_records(
    records: Iterable[Mapping[str, Any]],
    order_ids: Iterable[str] | None = None,
    where: str = "events",
) -> pd.DataFrame:
    """Validate tracking events given as dicts into the canonical table."""
    records = list(records)
    if not all(isinstance(r, Mapping) for r in records):
        raise DataFileError(f"{where}: every event must be an object with named fields")
    small = small_events(records, None if order_ids is None else set(order_ids))
    if small is not None:
        return small
    frame = pd.DataFrame.from_records(records) if records else pd.DataFrame(columns=EVENT_COLUMNS)
    return validate_events(frame, order_ids, where=where)
