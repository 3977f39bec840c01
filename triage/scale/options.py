"""What ``--engine dask`` adds to a command: its two options and its progress bars.

Cheap to import (click only), so that ``triage --help`` stays fast; the commands import the
rest of triage.scale inside, once ``--engine dask`` is chosen.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import click

__all__ = ["engine_options", "progress_bars"]


def engine_options(command: Callable) -> Callable:
    """``--engine local|dask`` and ``--scheduler ADDRESS``."""
    command = click.option(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="With --engine dask: the scheduler, e.g. tcp://host:8786 (default: "
        "$DASK_SCHEDULER_ADDRESS, else a local cluster of one worker per core).",
    )(command)
    return click.option(
        "--engine",
        type=click.Choice(["local", "dask"]),
        default="local",
        show_default=True,
        help="local: one process. dask: Parquet partitions on a Dask cluster, written part by "
        "part to the --out directory (pip install -e '.[dask]'; docs/SCALE.md).",
    )(command)


@contextmanager
def progress_bars() -> Iterator[Callable[[str, int], Callable[[], None]]]:
    """A `triage.scale.cluster.Progress`: one tqdm bar on stderr per stage, a step per
    partition done."""
    from tqdm import tqdm

    bars: list = []

    def stage(name: str, total: int) -> Callable[[], None]:
        bar = tqdm(total=total, desc=name, unit="partition", leave=False, file=sys.stderr)
        bars.append(bar)
        return lambda: bar.update(1)

    try:
        yield stage
    finally:
        for bar in bars:
            bar.close()
