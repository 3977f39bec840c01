"""Small Parquet data sets spread over several parts, shared by the Dask tests
(tests/test_dask_scoring.py in threads, tests/system/test_dask_cluster.py in processes)."""

from __future__ import annotations

import contextlib
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

AS_OF = pd.Timestamp("2024-10-20", tz="UTC")  # mid-period: hundreds of open orders


def simulated_tables():
    """2,000 simulated orders over 30 days, raw (as a file holds them) and validated."""
    from triage.orders.data.schema import validate_events, validate_orders
    from triage.orders.data.simulator import simulate_marketplace

    sim = simulate_marketplace(2000, seed=5, start="2024-10-01", days=30)
    orders = validate_orders(sim.orders)
    return sim.orders, sim.events, orders, validate_events(sim.events, orders["order_id"])


@contextlib.contextmanager
def local_client(*, processes: bool):
    """A client of a LocalCluster of two single-threaded workers (processes or threads)."""
    from distributed import Client, LocalCluster

    with warnings.catch_warnings():  # another cluster's HTTP server on 8787: any port does
        warnings.filterwarnings("ignore", message="Port .* is already in use")
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=processes, dashboard_address=None
        )
    with cluster, Client(cluster) as client:
        yield client


def write_parts(
    root: Path, orders: pd.DataFrame, events: pd.DataFrame, n_orders: int = 4, n_events: int = 3
) -> tuple[Path, Path]:
    """Orders in `n_orders` parts of a random permutation (each seller's orders, so its
    history, spread over all of them) plus one empty part; events in `n_events` parts cut by
    row, so that an order's events lie in other parts than the order itself."""
    orders_dir, events_dir = root / "orders", root / "events"
    orders_dir.mkdir(parents=True)
    events_dir.mkdir(parents=True)
    permutation = np.random.default_rng(0).permutation(len(orders))
    for i, rows in enumerate(np.array_split(permutation, n_orders)):
        orders.iloc[np.sort(rows)].to_parquet(orders_dir / f"part-{i:02d}.parquet")
    orders.iloc[:0].to_parquet(orders_dir / f"part-{n_orders:02d}.parquet")
    for i, rows in enumerate(np.array_split(np.arange(len(events)), n_events)):
        events.iloc[rows].to_parquet(events_dir / f"part-{i:02d}.parquet")
    return orders_dir, events_dir


def local_scores(scorer, orders: pd.DataFrame, events: pd.DataFrame, as_of=AS_OF) -> pd.DataFrame:
    """What one process gives: ``score_frame`` by order id."""
    frame = scorer.score_frame(orders, events, as_of=as_of).drop(columns="row")
    return frame.sort_values("order_id").reset_index(drop=True)


def read_scores(out: Path) -> pd.DataFrame:
    frame = pd.read_parquet(out)
    return frame.sort_values("order_id").reset_index(drop=True)


def assert_same_scores(local: pd.DataFrame, distributed: pd.DataFrame) -> None:
    """Same rows, scores within 1e-9, and every feature the same."""
    assert len(local) > 0
    assert distributed["order_id"].tolist() == local["order_id"].tolist()
    np.testing.assert_allclose(distributed["risk"], local["risk"], rtol=0, atol=1e-9)
    assert distributed["flagged"].tolist() == local["flagged"].tolist()
    for column in local.columns.drop(["order_id", "risk", "flagged"]):
        if not pd.api.types.is_numeric_dtype(local[column]):
            assert distributed[column].astype(str).tolist() == local[column].astype(str).tolist()
        else:
            np.testing.assert_allclose(
                distributed[column].to_numpy(float),
                local[column].to_numpy(float),
                rtol=0,
                atol=1e-9,
                err_msg=column,
            )
