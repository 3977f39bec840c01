"""Batch scoring on a Dask cluster of worker processes (tests/test_dask_scoring.py runs the
same in threads): equality with one process, a corrupt part, and the command's own
LocalCluster when no scheduler is given."""

from __future__ import annotations

import pandas as pd
import pytest
from click.testing import CliRunner

from tests.dask_data import (
    AS_OF,
    assert_same_scores,
    local_client,
    local_scores,
    read_scores,
    write_parts,
)
from triage.cli import cli
from triage.errors import ClusterError

distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes, as `triage` starts on a 2-core machine."""
    with local_client(processes=True) as client:
        yield client


def test_scores_equal_one_process(client, dask_tables, dask_parts, api_risk_scorer, tmp_path):
    from triage.scale.orders import score_orders

    _, _, orders, events = dask_tables
    done = score_orders(
        client, *map(str, dask_parts), api_risk_scorer, str(tmp_path / "out"), as_of=AS_OF
    )
    assert done["partitions"] == 5
    assert_same_scores(local_scores(api_risk_scorer, orders, events), read_scores(tmp_path / "out"))


def test_a_corrupt_part_fails_naming_it(client, dask_tables, tmp_path, api_risk_scorer):
    from triage.scale.orders import score_orders

    raw_orders, raw_events, _, _ = dask_tables
    orders_dir, events_dir = write_parts(tmp_path, raw_orders, raw_events)
    (events_dir / "part-01.parquet").write_bytes(b"PAR1 truncated")
    with pytest.raises(ClusterError, match=r"part-01\.parquet: cannot read as parquet"):
        score_orders(client, str(orders_dir), str(events_dir), api_risk_scorer, str(tmp_path / "o"))


def test_command_starts_its_own_local_cluster(
    dask_tables, dask_parts, api_risk_scorer, tmp_path, monkeypatch
):
    from triage.registry import Registry

    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    registry = Registry(tmp_path / "models")
    registry.promote("risk", registry.create("risk", api_risk_scorer.model, {"kind": "risk_model"}))
    _, _, orders, events = dask_tables
    result = CliRunner().invoke(
        cli,
        [
            "--models-dir", str(tmp_path / "models"), "score-orders", "--engine", "dask",
            "--data", str(dask_parts[0]), "--events", str(dask_parts[1]), "--as-of", "2024-10-20",
            "--out", str(tmp_path / "out"),
        ],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "in 5 partitions" in result.output
    assert_same_scores(local_scores(api_risk_scorer, orders, events), read_scores(tmp_path / "out"))
    assert pd.read_parquet(tmp_path / "out")["as_of"].eq(AS_OF).all()
