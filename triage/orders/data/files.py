"""Reading and writing order and event files (CSV, JSONL or Parquet) in the canonical schema."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from triage.orders.data.fields import EVENT_COLUMNS, TEXT_COLUMNS
from triage.orders.data.schema import validate_events, validate_orders
from triage.tables import read_table, write_table

__all__ = ["events_path_for", "read_order_tables", "write_order_tables", "write_records"]

_ID_COLUMNS = ("order_id", *TEXT_COLUMNS)


def events_path_for(orders_path: str | Path) -> Path:
    """The default events file beside an orders file: ``orders.csv`` -> ``orders.events.csv``."""
    path = Path(orders_path)
    return path.with_name(f"{path.stem}.events{path.suffix}")


def read_order_tables(
    data: str | Path, events: str | Path | None = None
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Validated (orders, events); without an events file the order has no tracking events."""
    orders = validate_orders(read_table(data, text_columns=_ID_COLUMNS), where=str(data))
    if events is None:
        return orders, validate_events(pd.DataFrame(columns=list(EVENT_COLUMNS)))
    frame = read_table(events, text_columns=("order_id", "event_type", "location"))
    return orders, validate_events(frame, orders["order_id"], where=str(events))


def _for_file(frame: pd.DataFrame, path: Path) -> pd.DataFrame:
    """Times as ISO 8601 text in CSV (Parquet keeps real timestamps)."""
    if path.suffix.lower() == ".parquet":
        return frame
    frame = frame.copy()
    for column in frame.columns:
        if pd.api.types.is_datetime64_any_dtype(frame[column]):
            frame[column] = frame[column].map(lambda v: v.isoformat() if pd.notna(v) else None)
    return frame


def write_order_tables(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    out: str | Path,
    events_out: str | Path | None = None,
) -> tuple[Path, Path]:
    """Write both tables (events beside the orders by default); returns the two paths."""
    out = Path(out)
    events_out = Path(events_out) if events_out is not None else events_path_for(out)
    write_table(_for_file(orders, out), out)
    write_table(_for_file(events, events_out), events_out)
    return out, events_out


def write_records(records: list[dict], path: str | Path) -> None:
    """Write dicts as rows; nested values (lists, dicts) become JSON text outside JSONL."""
    path = Path(path)
    frame = pd.DataFrame.from_records(records)
    if path.suffix.lower() not in (".jsonl", ".ndjson"):
        for column in frame.columns:
            if frame[column].map(lambda v: isinstance(v, list | dict)).any():
                frame[column] = frame[column].map(
                    lambda v: json.dumps(v, ensure_ascii=False, default=str)
                )
    write_table(frame, path)
