"""Reading and writing data files: CSV, JSONL or Parquet, chosen by the file's extension."""

from __future__ import annotations

import warnings
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from triage.errors import DataFileError

__all__ = [
    "FORMATS",
    "read_table",
    "require_columns",
    "table_format",
    "text_values",
    "write_table",
]

FORMATS = {
    ".csv": "csv",
    ".jsonl": "jsonl",
    ".ndjson": "jsonl",
    ".parquet": "parquet",
    ".pq": "parquet",
}


def table_format(path: Path) -> str:
    """The format of `path` by its extension; an unknown one is a `DataFileError` (check an
    output path with it before a long job, not after)."""
    fmt = FORMATS.get(path.suffix.lower())
    if fmt is None:
        raise DataFileError(
            f"{path}: unknown file type {path.suffix!r}; use .csv, .jsonl or .parquet"
        )
    return fmt


def read_table(path: str | Path, *, text_columns: Iterable[str] = ()) -> pd.DataFrame:
    """Read a CSV, JSONL or Parquet file; `text_columns` (and ids) are read as strings.

    Every failure is a `DataFileError` with a one-line message naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"{path}: no such file")
    if not path.is_file():
        raise DataFileError(f"{path}: not a file")
    fmt = table_format(path)
    dtype = {c: "string" for c in text_columns}
    try:
        if fmt == "csv":
            frame = pd.read_csv(
                path, dtype=dtype or None, keep_default_na=False, na_values=[""], encoding="utf-8"
            )
        elif fmt == "jsonl":
            with warnings.catch_warnings():  # lines that are arrays of unequal lengths: pandas 3
                # pads them and warns (pandas 4 will raise); either way not a table of records
                warnings.simplefilter("error", pd.errors.PandasChangeWarning)
                frame = pd.read_json(path, lines=True, dtype=dtype or False, encoding="utf-8")
        else:
            frame = pd.read_parquet(path)
    except UnicodeDecodeError as exc:
        raise DataFileError(f"{path}: not valid UTF-8 (byte {exc.start})") from None
    except pd.errors.EmptyDataError:
        raise DataFileError(f"{path}: the file is empty") from None
    except pd.errors.PandasChangeWarning:
        raise DataFileError(
            f"{path}: cannot read as {fmt}: every line must be a JSON object"
        ) from None
    except (ValueError, OSError, pd.errors.ParserError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise DataFileError(f"{path}: cannot read as {fmt}: {first}") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise DataFileError(f"{path}: cannot read as parquet: {exc}") from None
        raise
    if frame.empty:
        raise DataFileError(f"{path}: no rows")
    return frame


def require_columns(frame: pd.DataFrame, columns: Iterable[str], where: str) -> None:
    """Raise `DataFileError` naming the columns of `columns` that `frame` lacks."""
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        have = ", ".join(map(str, frame.columns[:20]))
        raise DataFileError(f"{where}: missing column(s) {', '.join(missing)} (columns: {have})")


def text_values(frame: pd.DataFrame, column: str, where: str) -> list[str]:
    """The texts of `column` as strings; an empty one is a `DataFileError` naming the first."""
    values = frame[column]
    empty = values.isna() | (values.astype(str).str.strip() == "")
    if empty.any():
        first = int(empty.to_numpy().nonzero()[0][0])
        raise DataFileError(
            f"{where}: {int(empty.sum())} empty text(s) in column {column!r} (first at data row {first + 1})"
        )
    return values.astype(str).tolist()


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write `frame` in the format of `path`'s extension, atomically."""
    path = Path(path)
    fmt = table_format(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    if fmt == "csv":
        frame.to_csv(tmp, index=False)
    elif fmt == "jsonl":
        frame.to_json(tmp, orient="records", lines=True, force_ascii=False, date_format="iso")
    else:
        frame.to_parquet(tmp, index=False)
    tmp.replace(path)
