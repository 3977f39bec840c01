"""The Dask side of batch scoring: the client, the Parquet parts, and running partitions.

`connect(address)` yields a `distributed.Client`: to `address`, else to
``DASK_SCHEDULER_ADDRESS``, else to a `LocalCluster` of one single-threaded worker process per
core with the dashboard off. `parquet_parts(url)` lists a Parquet file or the parts of a
directory of them (a local path or any fsspec URL). `gather(futures, labels, progress)` waits
for partitions as they finish and turns the first failure into a `ClusterError` naming the
partition, instead of leaving the client waiting.

    >>> with connect(None) as client:                                          # doctest: +SKIP
    ...     futures = client.compute(tasks)
    ...     results = gather(futures, [f"part {i}" for i in range(len(tasks))])
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pandas as pd

from triage.errors import ClusterError, DataFileError, InputError, TriageError
from triage.tables import FORMATS

__all__ = [
    "SCHEDULER_ENV",
    "WORKER_CONFIG",
    "Progress",
    "connect",
    "filesystem",
    "gather",
    "output_dir",
    "parquet_parts",
    "part_name",
    "read_part",
    "write_part",
]

SCHEDULER_ENV = "DASK_SCHEDULER_ADDRESS"
CONNECT_TIMEOUT = "10s"
#: the workers of a LocalCluster: the peer-to-peer shuffle may buffer 1 GiB of shards in a
#: worker's memory by default; less keeps a worker's peak close to that of one partition
#: (set DASK_DISTRIBUTED__P2P__COMM__BUFFER on the workers of a cluster started by hand)
WORKER_CONFIG = {"distributed.p2p.comm.buffer": "128MiB"}
PART_SUFFIXES = (".parquet", ".pq")

#: ``progress(stage, total)`` returns the function called once per finished partition
Progress = Callable[[str, int], Callable[[], None]]


def _require_dask() -> None:
    try:
        import dask  # noqa: F401
        import distributed  # noqa: F401
    except ImportError:
        raise InputError(
            "--engine dask needs Dask: pip install -e '.[dask]' (see docs/SCALE.md)"
        ) from None


def cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


@contextlib.contextmanager
def connect(address: str | None = None) -> Iterator[Any]:
    """A `distributed.Client`: to `address`, else ``$DASK_SCHEDULER_ADDRESS``, else a
    `LocalCluster` sized to the machine (closed on exit). An unreachable scheduler is a
    `ClusterError` with one line."""
    _require_dask()
    from distributed import Client, LocalCluster

    address = address or os.environ.get(SCHEDULER_ENV) or None
    if address is None:
        import dask

        with warnings.catch_warnings(), dask.config.set(WORKER_CONFIG):
            # another program's dashboard on 8787: any port does
            warnings.filterwarnings("ignore", message="Port .* is already in use")
            cluster = LocalCluster(
                n_workers=cores(),
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                # a failed partition is reported once, as one line, by `gather`
                silence_logs=logging.CRITICAL,
            )
        try:
            with Client(cluster) as client:
                yield client
        finally:
            cluster.close()
        return
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ClusterError(f"cannot reach the Dask scheduler at {address}: {reason}") from None
    with client:
        try:  # a scheduler without workers would leave every task waiting
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT)
        except (OSError, TimeoutError):
            raise ClusterError(
                f"the Dask scheduler at {address} has no workers (start some with "
                f"`dask worker {address}`)"
            ) from None
        yield client


def filesystem(url: str):
    """(fsspec file system, path) of a local path or fsspec URL; an unknown protocol, or one
    whose package is missing, is a `DataFileError`."""
    from fsspec.core import url_to_fs

    try:
        return url_to_fs(url)
    except (ImportError, ValueError) as exc:  # an unknown protocol or its package missing
        raise DataFileError(f"{url}: {exc}") from None


def parquet_parts(url: str, option: str = "--data", reader: str = "--engine dask") -> list[str]:
    """The Parquet files of `url`: the file itself, or the ``*.parquet`` / ``*.pq`` files under
    a directory (sorted; names starting with ``_`` or ``.`` skipped, as Spark and Dask write).
    `reader` names what needs Parquet in the errors."""
    suffix = os.path.splitext(url.rstrip("/"))[1].lower()
    if FORMATS.get(suffix) in ("csv", "jsonl"):
        raise InputError(
            f"{option} {url}: CSV and JSONL are read in one process; {reader} reads Parquet "
            "(a file or a directory of parts)"
        )
    fs, path = filesystem(url)
    if fs.isdir(path):
        found = sorted(
            p
            for p in fs.find(path)
            if p.lower().endswith(PART_SUFFIXES) and not os.path.basename(p).startswith(("_", "."))
        )
        if not found:
            raise DataFileError(f"{url}: no .parquet files in this directory")
        return [fs.unstrip_protocol(p) if "://" in url else p for p in found]
    if not fs.isfile(path):
        raise DataFileError(f"{url}: no such file or directory")
    if suffix not in PART_SUFFIXES:
        raise DataFileError(f"{url}: {reader} reads Parquet (.parquet or .pq)")
    return [url]


def output_dir(url: str) -> str:
    """Create the output directory `url` (a path or fsspec URL); one holding files already is an
    error, so that parts of an earlier run never mix with this one's."""
    fs, path = filesystem(url)
    if fs.exists(path):
        if not fs.isdir(path):
            raise InputError(f"--out {url}: a file; --engine dask writes a directory of parts")
        if fs.ls(path):
            raise InputError(f"--out {url}: not empty; remove it or choose another directory")
    fs.makedirs(path, exist_ok=True)
    return url.rstrip("/")


def part_name(out: str, index: int) -> str:
    return f"{out}/part.{index:05d}.parquet"


def read_part(part: str, columns: list[str] | None = None) -> pd.DataFrame:
    """One Parquet part (only `columns` when given), read as `read_table` reads a Parquet file;
    a part that cannot be read names itself."""
    try:
        return pd.read_parquet(part, columns=columns)
    except (OSError, ValueError) as exc:
        raise DataFileError(f"{part}: cannot read as parquet: {_one_line(exc)}") from None
    except Exception as exc:  # pyarrow raises its own types for corrupt files
        if type(exc).__module__.startswith("pyarrow"):
            raise DataFileError(f"{part}: cannot read as parquet: {_one_line(exc)}") from None
        raise


def _one_line(exc: BaseException) -> str:
    return " ".join(str(exc).split()) or type(exc).__name__


def write_part(frame, out: str, index: int) -> str:
    """Write one output part: to a temporary name, then renamed (a reader never sees half a
    part)."""
    final = part_name(out, index)
    fs, path = filesystem(final)
    temporary = path + ".tmp"
    frame = frame.copy(deep=False)
    frame.attrs = {}  # pandas would try to keep them as JSON
    with fs.open(temporary, "wb") as handle:
        frame.to_parquet(handle, index=False)
    fs.mv(temporary, path)
    return final


def gather(
    futures: Sequence[Any],
    labels: Sequence[str],
    progress: Progress | None = None,
    stage: str = "partitions",
    *,
    fetch: bool = True,
) -> list[Any] | None:
    """The results of `futures` in their order, waiting as they complete (one progress step
    each; `fetch=False` leaves the results on the workers). The first failure cancels the rest
    and raises `ClusterError` with its label."""
    from distributed import as_completed

    step = progress(stage, len(futures)) if progress else None
    label_of = {future.key: label for future, label in zip(futures, labels, strict=True)}
    for future in as_completed(futures):
        if future.status != "finished":
            try:
                exc = future.exception()
            except BaseException as cancelled:  # a lost worker cancels its tasks
                exc = cancelled
            for other in futures:
                other.cancel()
            if isinstance(exc, TriageError):
                reason = " ".join(str(exc).split())
            else:
                reason = f"{type(exc).__name__}: {' '.join(str(exc).split())}"
            raise ClusterError(f"{label_of[future.key]} failed: {reason}")
        if step:
            step()
    return [future.result() for future in futures] if fetch else None
