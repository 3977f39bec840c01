"""The order commands end to end, and every bad input exits 2 with one ``error:`` line."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from triage.cli import cli


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    return tmp_path_factory.mktemp("orders_cli")


def invoke(workspace, *args):
    return CliRunner().invoke(
        cli,
        ["--models-dir", str(workspace / "models"), *map(str, args)],
        catch_exceptions=False,
        env={"TRIAGE_DATA_DIR": str(workspace / "var")},  # score-orders stores suggestions there
    )


@pytest.fixture(scope="module")
def simulated(workspace):
    result = invoke(
        workspace,
        "simulate",
        "--orders",
        3000,
        "--seed",
        4,
        "--start",
        "2024-11-01",
        "--days",
        30,
        "--out",
        workspace / "sim.parquet",
    )
    assert result.exit_code == 0, result.output
    assert (workspace / "sim.events.parquet").is_file()
    return workspace / "sim.parquet", workspace / "sim.events.parquet"


@pytest.fixture(scope="module")
def model_dir(workspace, simulated):
    data, events = simulated
    out = workspace / "risk_model"
    result = invoke(
        workspace,
        "train",
        "risk",
        "--data",
        data,
        "--events",
        events,
        "--out",
        out,
        "--test-from",
        "2024-11-24",
    )
    assert result.exit_code == 0, result.output
    assert "open_daily" in result.output and "policy" in result.output
    return out


def test_train_writes_a_model_directory(model_dir):
    metadata = json.loads((model_dir / "metadata.json").read_text())
    assert metadata["kind"] == "risk_model" and 0 < metadata["threshold"] < 1
    assert set(metadata["metrics"]["decision_points"]) == {"purchase", "handover", "open_daily"}
    assert (model_dir / "report.md").is_file() and (model_dir / "reliability.png").is_file()


def test_train_says_when_orders_came_without_their_optional_fields(workspace, simulated, model_dir):
    from triage.orders.data.fields import OPTIONAL_COLUMNS

    full = json.loads((model_dir / "metadata.json").read_text())
    assert full["data"]["bare_orders"] == 0 and len(full["fallback_features"]) == 27
    data, events = simulated
    bare = workspace / "bare.parquet"
    pd.read_parquet(data).drop(columns=list(OPTIONAL_COLUMNS)).to_parquet(bare)
    out = workspace / "bare_model"
    result = invoke(
        workspace, "train", "risk", "--data", bare, "--events", events, "--out", out,
        "--test-from", "2024-11-24",
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "metadata.json").read_text())
    assert metadata["data"]["bare_orders"] == metadata["data"]["orders"] > 0
    assert f"{metadata['data']['orders']} of them came without any optional field" in result.output
    assert "scored by the fallback model on 27 features" in result.output


def test_evaluate_json_has_every_metric(workspace, simulated, model_dir):
    data, events = simulated
    result = invoke(
        workspace,
        "evaluate",
        "risk",
        "--model",
        model_dir,
        "--data",
        data,
        "--events",
        events,
        "--from",
        "2024-11-24",
        "--json",
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    for row in report["decision_points"].values():
        assert set(row) == {
            "roc_auc",
            "pr_auc",
            "brier",
            "precision_top10",
            "recall_top10",
            "snapshots",
            "late_rate",
        }
    assert set(report["policy"]) >= {"precision", "recall", "median_lead_days", "threshold"}


def test_register_and_score_open_orders(workspace, simulated):
    data, events = simulated
    result = invoke(
        workspace,
        "train",
        "risk",
        "--data",
        data,
        "--events",
        events,
        "--register",
        "risk",
        "--promote",
    )
    assert result.exit_code == 0, result.output
    open_orders = workspace / "open.csv"
    result = invoke(
        workspace,
        "simulate",
        "--orders",
        1500,
        "--seed",
        9,
        "--start",
        "2024-11-01",
        "--days",
        15,
        "--open-at",
        "2024-11-12T00:00:00Z",
        "--out",
        open_orders,
    )
    assert result.exit_code == 0, result.output
    cases = workspace / "cases.csv"
    pd.DataFrame({"order_id": ["SIM0000001"]}).to_csv(cases, index=False)
    out = workspace / "suggestions.jsonl"
    result = invoke(
        workspace,
        "score-orders",
        "--data",
        open_orders,
        "--events",
        workspace / "open.events.csv",
        "--cases",
        cases,
        "--out",
        out,
    )
    assert result.exit_code == 0, result.output
    assert "open orders as of 2024-11-1" in result.output
    suggestions = pd.read_json(out, lines=True, dtype={"order_id": str})
    assert len(suggestions) > 0 and suggestions["order_id"].is_unique
    assert "SIM0000001" not in set(suggestions["order_id"])
    assert set(suggestions["category"]) <= {"shipping_delay", "not_received"}
    assert (
        suggestions["draft_zh"].str.contains("订单").all()
        and suggestions["draft_en"].str.contains("Order").all()
    )


def test_import_olist_writes_both_tables(workspace, tmp_path):
    (tmp_path / "orders.csv").write_text(
        "order_id,order_purchase_timestamp,order_approved_at,order_delivered_carrier_date,order_delivered_customer_date,order_estimated_delivery_date\n"
        "01,2017-01-01 10:00:00,2017-01-01 11:00:00,2017-01-03 10:00:00,2017-01-09 10:00:00,2017-01-20 00:00:00\n",
        encoding="utf-8",
    )
    result = invoke(
        workspace, "import", "olist", "--dir", tmp_path, "--out", tmp_path / "olist.csv"
    )
    assert result.exit_code == 0, result.output
    events = pd.read_csv(tmp_path / "olist.events.csv", dtype=str)
    assert events["order_id"].tolist() == ["01", "01", "01"]


@pytest.mark.parametrize(
    ("args", "message"),
    (
        (
            ("train", "risk", "--data", "{w}/missing.csv", "--out", "{w}/m"),
            "missing.csv: no such file",
        ),
        (
            ("train", "risk", "--data", "{w}/sim.parquet", "--out", "{w}/m", "--register", "x"),
            "exactly one of --out DIR or --register NAME",
        ),
        (
            (
                "train",
                "risk",
                "--data",
                "{w}/sim.parquet",
                "--events",
                "{w}/bad_events.csv",
                "--out",
                "{w}/m",
            ),
            "unknown event_type",
        ),
        (
            (
                "train",
                "risk",
                "--data",
                "{w}/sim.parquet",
                "--out",
                "{w}/m",
                "--test-from",
                "someday",
            ),
            "--test-from: 'someday' is not a date",
        ),
        (
            ("train", "risk", "--data", "{w}/bad_orders.csv", "--out", "{w}/m"),
            "missing column.*promised_date",
        ),
        (
            ("evaluate", "risk", "--model", "{w}/nowhere", "--data", "{w}/sim.parquet"),
            "no such model directory",
        ),
        (
            ("score-orders", "--model", "{w}/nowhere", "--data", "{w}/sim.parquet"),
            "no such model directory",
        ),
        (
            ("score-orders", "--model", "missing_name", "--data", "{w}/sim.parquet"),
            "has no champion",
        ),
        (("import", "olist", "--dir", "{w}", "--out", "{w}/o.csv"), "orders.csv not found"),
        (("simulate", "--out", "{w}/s.txt"), "unknown file type '.txt'"),
    ),
)
def test_bad_input_exits_2_with_one_line(workspace, simulated, args, message):
    (workspace / "bad_events.csv").write_text(
        "order_id,time,event_type\nSIM0000001,2024-11-02T00:00:00Z,beamed\n", encoding="utf-8"
    )
    (workspace / "bad_orders.csv").write_text(
        "order_id,purchased_at\n1,2024-01-01\n", encoding="utf-8"
    )
    result = invoke(workspace, *[a.format(w=workspace) for a in args])
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.output
    assert pytest.importorskip("re").search(message, lines[0]), lines[0]


def test_score_orders_closes_the_suggestions_of_settled_orders(tmp_path, model_dir):
    """score-orders takes the service's step after scoring: an open suggestion whose order the
    files now show canceled is closed as resolved, as an ingest would close it."""
    from triage.config import Settings
    from triage.orders.suggestion_store import DatabaseSuggestionStore
    from triage.store import Store

    env = {"TRIAGE_DATA_DIR": str(tmp_path / "var")}

    def run(*args):
        result = CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False, env=env)
        assert result.exit_code == 0, result.output
        return result

    open_orders, events = tmp_path / "open.csv", tmp_path / "open.events.csv"
    run(
        "simulate",
        "--orders",
        1500,
        "--seed",
        9,
        "--start",
        "2024-11-01",
        "--days",
        15,
        "--open-at",
        "2024-11-12T00:00:00Z",
        "--out",
        open_orders,
    )
    first = run(
        "score-orders", "--model", model_dir, "--data", open_orders, "--events", events, "--json"
    )
    made = json.loads(first.stdout)
    assert made and "closed" not in first.output
    order_id = made[0]["order_id"]

    frame = pd.read_csv(open_orders, dtype=str, keep_default_na=False)
    frame.loc[frame["order_id"] == order_id, "canceled"] = "true"
    settled = tmp_path / "settled.csv"
    frame.to_csv(settled, index=False)
    second = run("score-orders", "--model", model_dir, "--data", settled, "--events", events)
    assert ", 1 open suggestions of settled orders closed" in second.output

    store = Store.from_settings(Settings.from_env({"data_dir": tmp_path / "var"}))
    try:
        statuses = [s.status for s in DatabaseSuggestionStore(store).for_order(order_id)]
    finally:
        store.dispose()
    assert statuses == ["resolved"]
