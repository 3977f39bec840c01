"""Batch scoring on Dask (triage/scale/): the same scores as one process, empty and corrupt
parts, bad input and an unreachable scheduler. One in-process cluster (threads) for the
module; tests/system/test_dask_cluster.py runs the same against worker processes."""

from __future__ import annotations

import json
import socket

import numpy as np
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
from triage.errors import ClusterError, DataFileError

distributed = pytest.importorskip("distributed", reason="the [dask] extra is not installed")


@pytest.fixture(scope="module")
def client():
    """Two workers of one thread each, inside this process."""
    with local_client(processes=False) as client:
        yield client


def test_scores_equal_one_process(client, dask_tables, dask_parts, api_risk_scorer, tmp_path):
    from triage.scale.orders import score_orders

    _, _, orders, events = dask_tables
    orders_dir, events_dir = dask_parts
    local = local_scores(api_risk_scorer, orders, events)
    done = score_orders(
        client,
        str(orders_dir),
        str(events_dir),
        api_risk_scorer,
        str(tmp_path / "out"),
        as_of=AS_OF,
    )
    assert_same_scores(local, read_scores(tmp_path / "out"))
    assert done["orders"] == len(orders) and done["scored"] == len(local)
    assert done["partitions"] == 5 and done["flagged"] == int(local["flagged"].sum())
    assert len(list((tmp_path / "out").glob("part.*.parquet"))) == done["parts"] > 1


def test_history_crosses_partitions(dask_tables, dask_parts, api_risk_scorer):
    """The data really spreads each seller over the parts: one part scored on its own history
    gives other seller figures than the whole dask_tables (so the equality above needs the shared
    history)."""
    from triage.orders.data.schema import validate_events, validate_orders

    _, _, orders, events = dask_tables
    orders_dir, _ = dask_parts
    part = validate_orders(pd.read_parquet(orders_dir / "part-00.parquet"))
    sellers_in_parts = [
        set(pd.read_parquet(path)["seller_id"]) for path in sorted(orders_dir.glob("*.parquet"))
    ]
    shared = set.intersection(*(s for s in sellers_in_parts if s))
    assert len(shared) > 10  # the same sellers in every non-empty part
    alone = local_scores(
        api_risk_scorer, part, validate_events(events[events["order_id"].isin(part["order_id"])])
    )
    whole = local_scores(api_risk_scorer, orders, events)
    whole = whole[whole["order_id"].isin(alone["order_id"])].reset_index(drop=True)
    assert len(alone) > 0
    assert not np.allclose(alone["seller_orders"], whole["seller_orders"])


def test_cut_history_is_the_history_at_its_cut_offs(dask_tables):
    """Sums per key of parts, each coded by its own vocabulary and added up, answer as the
    history of all orders does at the cut-off times; elsewhere they refuse."""
    from triage.orders.risk.history import History, Ledger, Vocabulary
    from triage.orders.risk.scoring import scoring_time
    from triage.scale.history import CutHistory, Cuts, cut_times

    _, _, orders, events = dask_tables
    t = scoring_time(orders, events, AS_OF)
    times = cut_times(orders, t)
    assert t in times and len(times) > 2  # the scoring time and its windows' starts
    parts = []
    for rows in np.array_split(np.random.default_rng(1).permutation(len(orders)), 3):
        vocabulary = Vocabulary()
        part = orders.iloc[np.sort(rows)].reset_index(drop=True)
        ledger = Ledger.from_tables(part, events, vocabulary)
        parts.append(Cuts.of_ledger(ledger, vocabulary.names(), times))
    cut = CutHistory(Cuts.combine([Cuts.combine(parts[:2]), parts[2]]))
    vocabulary = Vocabulary()
    full = History(Ledger.from_tables(orders, events, vocabulary))
    counted = 0
    for name in full.facts:
        kind = name.split("_", 1)[1]
        points = {"exceed": 26, "used": 21}.get(name.split("_", 1)[0], 1)
        names = [""] if kind == "platform" else vocabulary.names()[kind]
        codes = np.zeros(1, np.int64) if kind == "platform" else np.arange(len(names))
        ours = np.zeros(1, np.int64) if kind == "platform" else cut.vocabulary.codes(kind, names)
        for when in times:
            for point in range(points):
                expected = full.count(name, codes * points + point, np.full(len(codes), when))
                got = cut.count(name, ours * points + point, np.full(len(codes), when))
                np.testing.assert_array_equal(got[0], expected[0], err_msg=name)
                counted += int(expected[0].sum())
                np.testing.assert_array_equal(got[1], expected[1], err_msg=name)
    assert counted > 10_000
    after, until = np.array([times[0], times[1]]), np.array([times[-1], times[-1]])
    np.testing.assert_array_equal(cut.purchases(after, until), full.purchases(after, until))
    with pytest.raises(ValueError, match="not one of its cut-offs"):
        cut.count("outcome_seller", np.zeros(1, np.int64), np.array([t - 1]))


def test_an_order_with_events_in_several_parts(client, dask_tables, api_risk_scorer, tmp_path):
    """Each order's events dealt round-robin over three parts, so that its hand-over and its
    delivery (the facts its history comes from) lie in different parts: the same scores."""
    from triage.scale.orders import score_orders

    raw_orders, raw_events, orders, events = dask_tables
    orders_dir, events_dir = write_parts(tmp_path, raw_orders, raw_events.iloc[:0])
    for path in events_dir.glob("*.parquet"):
        path.unlink()
    rank = raw_events.groupby("order_id").cumcount().to_numpy()
    for i in range(3):
        raw_events[rank % 3 == i].to_parquet(events_dir / f"part-{i:02d}.parquet")
    split = raw_events.assign(part=rank % 3).pivot_table(
        index="order_id", columns="event_type", values="part", aggfunc="first"
    )
    split = split.dropna(subset=["picked_up", "delivered"])
    assert (split["picked_up"] != split["delivered"]).sum() > 100
    local = local_scores(api_risk_scorer, orders, events)
    done = score_orders(
        client, str(orders_dir), str(events_dir), api_risk_scorer, str(tmp_path / "out"),
        as_of=AS_OF,
    )  # fmt: skip
    assert done["scored"] == len(local)
    assert_same_scores(local, read_scores(tmp_path / "out"))


def test_default_time_is_the_latest_of_all_partitions(
    client, dask_tables, dask_parts, api_risk_scorer, tmp_path
):
    from triage.scale.orders import score_orders

    _, _, orders, events = dask_tables
    from triage.orders.risk.scoring import scoring_time

    done = score_orders(client, *map(str, dask_parts), api_risk_scorer, str(tmp_path / "out"))
    local = local_scores(api_risk_scorer, orders, events, as_of=None)
    latest = pd.Timestamp(scoring_time(orders, events), unit="s", tz="UTC")
    assert pd.Timestamp(done["as_of"]) == latest
    assert_same_scores(local, read_scores(tmp_path / "out"))


def test_mostly_empty_partitions(client, dask_tables, api_risk_scorer, tmp_path):
    """Three orders in six parts, three of them empty: most shuffled partitions get nothing."""
    raw_orders, raw_events, orders, events = dask_tables
    few = orders.sort_values("purchased_at").iloc[1000:1003]["order_id"]
    raw = raw_orders[raw_orders["order_id"].isin(few)]
    orders_dir, events_dir = tmp_path / "orders", tmp_path / "events"
    orders_dir.mkdir()
    events_dir.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(raw)), 3)):
        raw.iloc[rows].to_parquet(orders_dir / f"part-{i}.parquet")
        raw.iloc[:0].to_parquet(orders_dir / f"part-{i + 3}.parquet")
    raw_events[raw_events["order_id"].isin(few)].to_parquet(events_dir / "all.parquet")
    from triage.orders.data.schema import validate_events, validate_orders

    small = validate_orders(raw)
    small_events = validate_events(raw_events[raw_events["order_id"].isin(few)])
    when = small["purchased_at"].max() + pd.Timedelta(hours=1)
    local = local_scores(api_risk_scorer, small, small_events, as_of=when)

    from triage.scale.orders import score_orders

    done = score_orders(
        client, str(orders_dir), str(events_dir), api_risk_scorer, str(tmp_path / "out"), as_of=when
    )
    assert done["partitions"] == 6 and done["parts"] < 6
    assert_same_scores(local, read_scores(tmp_path / "out"))


def test_a_corrupt_part_fails_naming_it(client, dask_tables, tmp_path, api_risk_scorer):
    from triage.scale.orders import score_orders

    raw_orders, raw_events, _, _ = dask_tables
    orders_dir, events_dir = write_parts(tmp_path, raw_orders, raw_events)
    (orders_dir / "part-02.parquet").write_bytes(b"PAR1 this is not a parquet file")
    with pytest.raises(
        ClusterError, match=r"partition \d+ of 5 failed: .*part-02\.parquet: cannot read as parquet"
    ):
        score_orders(
            client, str(orders_dir), str(events_dir), api_risk_scorer, str(tmp_path / "out")
        )


def test_events_of_unknown_orders_fail_as_in_one_process(
    client, dask_tables, tmp_path, api_risk_scorer
):
    from triage.scale.orders import score_orders

    raw_orders, raw_events, _, _ = dask_tables
    orders_dir, events_dir = write_parts(tmp_path, raw_orders.iloc[:1500], raw_events)
    with pytest.raises(
        ClusterError, match="event\\(s\\) refer to orders that are not in the orders table"
    ):
        score_orders(
            client, str(orders_dir), str(events_dir), api_risk_scorer, str(tmp_path / "out")
        )


def test_duplicate_orders_across_parts_fail(client, dask_tables, tmp_path, api_risk_scorer):
    from triage.scale.orders import score_orders

    raw_orders, _, _, _ = dask_tables
    orders_dir = tmp_path / "orders"
    orders_dir.mkdir()
    raw_orders.iloc[:100].to_parquet(orders_dir / "a.parquet")
    raw_orders.iloc[50:150].to_parquet(orders_dir / "b.parquet")
    with pytest.raises(ClusterError, match=r"duplicate order_id value\(s\) across parts"):
        score_orders(client, str(orders_dir), None, api_risk_scorer, str(tmp_path / "out"))


def invoke(risk_models_dir, *args, env=None):
    return CliRunner().invoke(
        cli, ["--models-dir", str(risk_models_dir), *map(str, args)], env=env or {}
    )


def test_score_orders_command(
    client, dask_tables, dask_parts, risk_models_dir, api_risk_scorer, tmp_path
):
    _, _, orders, events = dask_tables
    orders_dir, events_dir = dask_parts
    out = tmp_path / "scores"
    result = invoke(
        risk_models_dir,
        "score-orders",
        "--engine",
        "dask",
        "--scheduler",
        client.scheduler.address,
        "--data",
        orders_dir,
        "--events",
        events_dir,
        "--as-of",
        "2024-10-20",
        "--out",
        out,
        "--json",
    )
    assert result.exit_code == 0, result.output
    local = local_scores(api_risk_scorer, orders, events)
    assert_same_scores(local, read_scores(out))
    again = invoke(
        risk_models_dir,
        "score-orders",
        "--engine",
        "dask",
        "--data",
        orders_dir,
        "--out",
        out,
        env={"DASK_SCHEDULER_ADDRESS": client.scheduler.address},
    )
    assert again.exit_code == 2 and again.output.strip().startswith("error:")
    assert "not empty" in again.output and len(again.output.strip().splitlines()) == 1


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.parametrize(
    ("args", "message"),
    (
        (("--data", "{w}/orders.csv", "--out", "{w}/o"), "CSV and JSONL are read in one process"),
        (("--data", "{w}/nowhere", "--out", "{w}/o"), "no such file or directory"),
        (("--data", "{w}/empty_dir", "--out", "{w}/o"), "no .parquet files"),
        (
            (
                "--data",
                "{orders}",
            ),
            "needs --out DIRECTORY",
        ),
        (("--data", "{orders}", "--out", "{w}/o", "--store"), "--store need"),
        (
            ("--data", "{orders}", "--out", "{w}/o", "--scheduler", "tcp://127.0.0.1:{port}"),
            "cannot reach the Dask scheduler at tcp://127.0.0.1:",
        ),
    ),
)
def test_score_orders_bad_input_is_one_line(
    risk_models_dir, dask_parts, tmp_path, monkeypatch, args, message
):
    import triage.scale.cluster

    monkeypatch.setattr(triage.scale.cluster, "CONNECT_TIMEOUT", "1s")
    (tmp_path / "orders.csv").write_text("order_id\n1\n")
    (tmp_path / "empty_dir").mkdir()
    values = {"w": tmp_path, "orders": dask_parts[0], "port": _free_port()}
    result = invoke(
        risk_models_dir, "score-orders", "--engine", "dask", *(a.format(**values) for a in args)
    )
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.output


def test_scheduler_needs_the_dask_engine(risk_models_dir, dask_parts, tmp_path):
    result = invoke(
        risk_models_dir, "score-orders", "--data", dask_parts[0], "--scheduler", "tcp://x:1"
    )
    assert result.exit_code == 2 and "--scheduler needs --engine dask" in result.output


def predict_on_dask(client, risk_models_dir, data, out):
    return invoke(
        risk_models_dir, "predict", "cases", "--engine", "dask",
        "--scheduler", client.scheduler.address, "--data", data, "--out", out,
    )  # fmt: skip


def test_predict_cases_equal_one_process(client, corpus, api_models_dir, tmp_path):
    texts = corpus["text"].iloc[:90].tolist()
    data = tmp_path / "texts"
    data.mkdir()
    for i, rows in enumerate(np.array_split(np.arange(len(texts)), 3)):
        pd.DataFrame({"text": [texts[j] for j in rows]}).to_parquet(data / f"part-{i}.parquet")
    pd.DataFrame({"text": pd.Series([], dtype=str)}).to_parquet(data / "part-3.parquet")
    pd.DataFrame({"text": texts}).to_parquet(tmp_path / "all.parquet")
    local = invoke(
        api_models_dir,
        "predict",
        "cases",
        "--data",
        tmp_path / "all.parquet",
        "--out",
        tmp_path / "local.parquet",
    )
    assert local.exit_code == 0, local.output
    result = predict_on_dask(client, api_models_dir, data, tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "wrote 90 predictions" in result.output and "(3 parts)" in result.output
    pd.testing.assert_frame_equal(
        pd.read_parquet(tmp_path / "out"), pd.read_parquet(tmp_path / "local.parquet")
    )


def test_predict_cases_empty_text_names_its_part(client, api_models_dir, tmp_path):
    data = tmp_path / "texts"
    data.mkdir()
    pd.DataFrame({"text": ["包裹还没到 where is my parcel"]}).to_parquet(data / "a.parquet")
    pd.DataFrame({"text": ["refund please", " "]}).to_parquet(data / "b.parquet")
    result = predict_on_dask(client, api_models_dir, data, tmp_path / "out")
    assert result.exit_code == 2
    assert "part 1 of 2" in result.output and "b.parquet: 1 empty text(s)" in result.output


def test_data_file_error_is_raised_for_missing_parts():
    from triage.scale.cluster import parquet_parts

    with pytest.raises(DataFileError, match="no such file"):
        parquet_parts("/nonexistent/orders")


def test_fsspec_urls_in_and_out(client, dask_tables, dask_parts, risk_models_dir, api_risk_scorer):
    """Input parts and output parts behind fsspec URLs, through the command (the in-memory file
    system: what s3:// or gs:// are to a real cluster)."""
    import fsspec

    _, _, orders, events = dask_tables
    fs = fsspec.filesystem("memory")
    for folder in dask_parts:
        for path in sorted(folder.glob("*.parquet")):
            fs.pipe(f"/dask-in/{folder.name}/{path.name}", path.read_bytes())
    try:
        result = invoke(
            risk_models_dir, "score-orders", "--engine", "dask", "--scheduler", client.scheduler.address,
            "--data", "memory://dask-in/orders", "--events", "memory://dask-in/events",
            "--as-of", "2024-10-20", "--out", "memory://dask-out", "--json",
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        written = sorted(fs.ls("/dask-out", detail=False))
        assert len(written) == json.loads(result.stdout)["parts"] > 1
        frame = pd.concat([pd.read_parquet(f"memory://{p}") for p in written])
        assert_same_scores(
            local_scores(api_risk_scorer, orders, events),
            frame.sort_values("order_id").reset_index(drop=True),
        )
    finally:
        fs.rm("/dask-in", recursive=True)
        if fs.exists("/dask-out"):
            fs.rm("/dask-out", recursive=True)


@pytest.mark.filterwarnings("ignore:Port .* is already in use")
def test_a_scheduler_without_workers_is_one_line(
    risk_models_dir, dask_parts, tmp_path, monkeypatch
):
    import triage.scale.cluster

    monkeypatch.setattr(triage.scale.cluster, "CONNECT_TIMEOUT", "1s")
    with distributed.LocalCluster(n_workers=0, processes=False, dashboard_address=None) as empty:
        result = invoke(
            risk_models_dir, "score-orders", "--engine", "dask", "--scheduler", empty.scheduler.address,
            "--data", dask_parts[0], "--out", tmp_path / "out",
        )  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "has no workers" in lines[0], result.output


def test_open_orders_missing_at_scoring_fail(
    client, dask_parts, api_risk_scorer, tmp_path, monkeypatch
):
    """The scoring step re-reads only the rows of the orders the history step found open; one
    of them lost on the way (here: dropped on purpose) fails the run instead of a missing row."""
    import triage.scale.orders
    from triage.scale.orders import score_orders

    read = triage.scale.orders._listed_rows
    monkeypatch.setattr(triage.scale.orders, "_listed_rows", lambda *a: read(*a).iloc[1:])
    with pytest.raises(ClusterError, match="the scoring step read .* where the history step found"):
        score_orders(
            client, *map(str, dask_parts), api_risk_scorer, str(tmp_path / "out"), as_of=AS_OF
        )
