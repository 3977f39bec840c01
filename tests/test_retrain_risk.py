"""``triage retrain risk``: the risk gate, whole runs against a champion, the command and its errors.

Small simulated marketplaces (2,000 orders over 30 days) keep each training under a second.
"""

import json

import numpy as np
import pytest
from click.testing import CliRunner

from triage.cli import cli
from triage.config import Settings
from triage.errors import InputError
from triage.jobs.gate import RiskGatePolicy, compare_risk
from triage.jobs.outcome import EXIT_PROMOTED, EXIT_REJECTED
from triage.jobs.retrain_risk import holdout_start, retrain_risk
from triage.jobs.risk_report import lead_times
from triage.orders.data.files import write_order_tables
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.scoring import RISK_MODEL_NAME
from triage.orders.risk.training import (
    build_dataset,
    evaluate_risk,
    fit_risk_model,
    model_metadata,
    time_split,
)
from triage.registry import Registry

HOLDOUT = "2024-11-12"  # the last 7 of 30 days of purchases (2024-10-20 to 11-18)
STUMP = {
    "max_iter": 1,
    "max_leaf_nodes": 2,
    "search": False,
}  # one split: a deliberately weak model
FAST = {"max_iter": 40, "search": False}


@pytest.fixture(scope="module")
def market():
    sim = simulate_marketplace(2_000, seed=5, start="2024-10-20", days=30)
    return sim.orders, sim.events


@pytest.fixture(scope="module")
def dataset(market):
    return build_dataset(*market)


@pytest.fixture
def settings(tmp_path):
    return Settings.from_env({"models_dir": tmp_path / "models", "data_dir": tmp_path / "var"})


def _champion(settings, dataset, params, *, until=HOLDOUT):
    """Register and promote a risk model trained on the orders purchased before `until` (None:
    on every order)."""
    train = time_split(dataset, test_from=until)[0] if until else np.ones(len(dataset.y), bool)
    model = fit_risk_model(dataset, train, params=params)
    metadata = model_metadata(model, dataset, train, metrics={}, source="test", kind="hgb")
    registry = Registry(settings.models_dir)
    version = registry.create(RISK_MODEL_NAME, model, metadata)
    registry.promote(RISK_MODEL_NAME, version)
    return version


def _points(**values):
    return {"decision_points": {p: {"roc_auc": a, "brier": b} for p, (a, b) in values.items()}}


def test_gate_checks_every_decision_point():
    champion = _points(purchase=(0.75, 0.090), handover=(0.93, 0.050))
    assert compare_risk(champion, _points(purchase=(0.76, 0.089), handover=(0.925, 0.052))).promote
    worse_auc = compare_risk(champion, _points(purchase=(0.75, 0.090), handover=(0.915, 0.050)))
    assert worse_auc.reasons == ["ROC AUC at handover fell from 0.9300 to 0.9150 (tolerance 0.01)"]
    worse_brier = compare_risk(champion, _points(purchase=(0.80, 0.097), handover=(0.95, 0.04)))
    assert worse_brier.reasons == ["Brier at purchase rose from 0.0900 to 0.0970 (tolerance 0.005)"]
    loose = RiskGatePolicy(roc_auc_tolerance=0.02, brier_tolerance=0.01)
    assert compare_risk(
        champion, _points(purchase=(0.75, 0.097), handover=(0.915, 0.05)), loose
    ).promote
    strict = RiskGatePolicy(roc_auc_tolerance=0.0, brier_tolerance=0.0)
    assert not compare_risk(
        champion, _points(purchase=(0.7499, 0.09), handover=(0.93, 0.05)), strict
    ).promote
    assert compare_risk(None, _points(purchase=(0.5, 0.2))).promote  # no champion yet


def test_the_logistic_baseline_gates_only_with_a_tolerance():
    challenger = _points(purchase=(0.60, 0.09), handover=(0.90, 0.05))
    baseline = _points(purchase=(0.65, 0.09), handover=(0.85, 0.06))
    assert compare_risk(None, challenger, baseline=baseline).promote  # reported, not gated
    strict = RiskGatePolicy(baseline_tolerance=0.02)
    alone = compare_risk(None, challenger, strict, baseline=baseline)  # no champion: still held
    assert not alone.promote
    assert alone.reasons == [
        "ROC AUC at purchase is 0.6000, below the logistic baseline's 0.6500 (tolerance 0.02)"
    ]
    assert [c.against for c in alone.checks] == ["logistic baseline"] * 2
    loose = RiskGatePolicy(baseline_tolerance=0.05)
    assert compare_risk(None, challenger, loose, baseline=baseline).promote
    champion = _points(purchase=(0.55, 0.09), handover=(0.95, 0.05))
    both = compare_risk(champion, challenger, strict, baseline=baseline)
    assert both.reasons == [
        "ROC AUC at handover fell from 0.9500 to 0.9000 (tolerance 0.01)",
        "ROC AUC at purchase is 0.6000, below the logistic baseline's 0.6500 (tolerance 0.02)",
    ]


def test_holdout_start_options(dataset):
    last_day = int(dataset.purchase.max()) // 86_400 * 86_400
    assert holdout_start(dataset, holdout_days=1).timestamp() == last_day
    assert holdout_start(dataset, holdout_days=7).isoformat() == "2024-11-12T00:00:00+00:00"
    assert holdout_start(dataset, holdout_from="2024-11-12 06:00").hour == 6
    default = holdout_start(dataset)
    share = np.mean(np.unique(dataset.purchase) >= default.timestamp())
    assert 0.18 < share < 0.22  # the latest 20 % of orders


def test_lead_times_replay_the_policy(dataset):
    train, test = time_split(dataset, test_from=HOLDOUT)
    model = fit_risk_model(dataset, train, params=FAST)
    metrics, proba = evaluate_risk(model, dataset, test)
    table = lead_times(dataset, test, proba, model.threshold_)
    policy = metrics["policy"]
    assert len(table) == policy["suggestions"] and table["order_id"].is_unique
    assert round(table["late"].mean(), 4) == policy["precision"]
    assert np.median(table.loc[table["late"] == 1, "lead_days"]) == policy["median_lead_days"]
    assert (table["risk"] >= model.threshold_).all() and (table["lead_days"] > 0).all()


def test_better_challenger_is_promoted(settings, market, dataset):
    old = _champion(settings, dataset, STUMP)
    result = retrain_risk(settings, *market, source="test", holdout_from=HOLDOUT, params=FAST)
    assert result.status == "promoted" and result.exit_code == EXIT_PROMOTED
    registry = Registry(settings.models_dir)
    assert registry.champion(RISK_MODEL_NAME) == result.challenger_version != old
    new, before = result.challenger_metrics, result.champion_metrics
    assert all(
        new["decision_points"][p]["roc_auc"] > before["decision_points"][p]["roc_auc"]
        for p in new["decision_points"]
    )
    assert result.holdout["start"].startswith("2024-11-12") and result.holdout["late_orders"] > 0
    folder = result.report_dir
    assert {"report.md", "result.json", "metrics.png", "reliability.png", "lead_times.png"} <= {
        p.name for p in folder.iterdir()
    }
    assert folder.parent == settings.data_dir / "reports"
    report = (folder / "report.md").read_text(encoding="utf-8")
    assert "| ROC AUC at open_daily |" in report and "median lead time" in report
    assert "\n" not in result.summary() and result.summary().startswith("retrain risk: promoted")
    saved = json.loads((folder / "result.json").read_text(encoding="utf-8"))
    assert saved["challenger_version"] == result.challenger_version
    meta = registry.versions(RISK_MODEL_NAME)[-1]
    assert meta["metrics"]["gate"]["promote"] and meta["data"]["purchased_until"] < HOLDOUT


def test_worse_challenger_is_rejected_and_kept(settings, market, dataset):
    champion = _champion(settings, dataset, FAST)
    result = retrain_risk(settings, *market, source="test", holdout_from=HOLDOUT, params=STUMP)
    assert result.status == "rejected" and result.exit_code == EXIT_REJECTED
    assert any(r.startswith("ROC AUC at") for r in result.decision.reasons)
    assert "rejected because" in result.summary()
    registry = Registry(settings.models_dir)
    assert registry.champion(RISK_MODEL_NAME) == champion
    rejected = [v for v in registry.versions(RISK_MODEL_NAME) if v["status"] == "rejected"]
    assert [v["version"] for v in rejected] == [result.challenger_version]
    assert rejected[0]["rejected_reason"] == "; ".join(result.decision.reasons)


def test_a_challenger_below_its_logistic_baseline_is_noted_or_rejected(settings, market):
    """The stump ranks the holdout worse than a logistic regression of the same orders: by default
    the run says so and promotes it (no champion); held to the baseline it is rejected."""
    noted = retrain_risk(settings, *market, source="test", holdout_from=HOLDOUT, params=STUMP)
    assert noted.status == "promoted"
    below = [n for n in noted.notes if "worse than a logistic regression" in n]
    baseline = noted.baseline_metrics["decision_points"]
    own = noted.challenger_metrics["decision_points"]
    assert len(below) == sum(own[p]["roc_auc"] < baseline[p]["roc_auc"] for p in baseline) > 0
    report = (noted.report_dir / "report.md").read_text(encoding="utf-8")
    assert "ROC AUC logistic baseline" in report and "Brier logistic baseline" in report
    assert below[0] in report
    assert "logistic baseline ROC AUC" in noted.summary()
    saved = json.loads((noted.report_dir / "result.json").read_text(encoding="utf-8"))
    assert saved["baseline_metrics"] == json.loads(json.dumps(noted.baseline_metrics))
    meta = Registry(settings.models_dir).versions(RISK_MODEL_NAME)[-1]
    assert meta["metrics"]["baseline_roc_auc"] == {p: row["roc_auc"] for p, row in baseline.items()}

    held = retrain_risk(
        settings,
        *market,
        source="test",
        holdout_from=HOLDOUT,
        params=STUMP,
        policy=RiskGatePolicy(baseline_tolerance=0.0),
    )
    assert held.status == "rejected" and held.exit_code == EXIT_REJECTED
    assert held.decision.reasons and all(
        "below the logistic baseline's" in r for r in held.decision.reasons
    )  # the stump equals its champion (the first run's stump): only the baseline rejects it
    report = (held.report_dir / "report.md").read_text(encoding="utf-8")
    assert "| logistic baseline |" in report and "**no**" in report


def test_a_logistic_challenger_has_no_baseline(settings, market):
    with pytest.raises(InputError, match="has none"):
        retrain_risk(
            settings,
            *market,
            source="test",
            kind="logistic",
            policy=RiskGatePolicy(baseline_tolerance=0.01),
        )


# --- the command ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def files(market, tmp_path_factory):
    folder = tmp_path_factory.mktemp("retrain_risk")
    return write_order_tables(*market, folder / "orders.parquet")


def _invoke(tmp_path, monkeypatch, *args):
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    return CliRunner().invoke(
        cli, ["--models-dir", str(tmp_path / "models"), "retrain", "risk", *map(str, args)]
    )


def _error_lines(stderr: str) -> list[str]:
    """Lines of stderr as a terminal shows them (progress-bar redraws removed)."""
    return [line.split("\r")[-1] for line in stderr.splitlines() if line.split("\r")[-1].strip()]


def test_dry_run_registers_nothing(tmp_path, monkeypatch, files, dataset):
    settings = Settings.from_env({"models_dir": tmp_path / "models"})
    champion = _champion(settings, dataset, STUMP)
    before = [v["version"] for v in Registry(tmp_path / "models").versions(RISK_MODEL_NAME)]
    orders, events = files
    result = _invoke(
        tmp_path,
        monkeypatch,
        "--data",
        orders,
        "--events",
        events,
        "--holdout-days",
        7,
        "--dry-run",
        "--json",
    )
    assert result.exit_code == EXIT_PROMOTED, result.output
    document = json.loads(result.stdout)
    assert document["status"] == "dry-run-promote" and document["challenger_version"] is None
    assert document["champion_version"] == champion
    registry = Registry(tmp_path / "models")
    assert [v["version"] for v in registry.versions(RISK_MODEL_NAME)] == before
    assert registry.champion(RISK_MODEL_NAME) == champion
    assert (tmp_path / "var" / "reports").is_dir()  # the report is written all the same


def test_command_rejects_a_challenger_beaten_by_a_champion_that_saw_the_holdout(
    tmp_path, monkeypatch, files, dataset
):
    """A champion trained on every order (the holdout too) looks better than it is: the run says
    so, and with zero tolerances the challenger is rejected (exit 3) and kept."""
    settings = Settings.from_env({"models_dir": tmp_path / "models"})
    champion = _champion(settings, dataset, FAST, until=None)
    orders, events = files
    result = _invoke(
        tmp_path,
        monkeypatch,
        "--data",
        orders,
        "--events",
        events,
        "--holdout-from",
        HOLDOUT,
        "--roc-auc-tolerance",
        0,
        "--brier-tolerance",
        0,
    )
    assert result.exit_code == EXIT_REJECTED, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].startswith("retrain risk: rejected;") and lines[1].startswith("report: ")
    assert Registry(tmp_path / "models").champion(RISK_MODEL_NAME) == champion
    report = json.loads((tmp_path / "var" / "reports").glob("*/result.json").__next__().read_text())
    assert any("inside the holdout period" in note for note in report["notes"])


@pytest.mark.parametrize(
    ("args", "message"),
    (
        (("--data", "missing.csv"), "missing.csv"),
        (("--events", "e.csv"), "--events needs --data"),
        (("--holdout-from", "2024-11-12", "--holdout-days", 3), "not both"),
        (("--holdout-from", "soon"), "not a date"),
        (("--holdout-from", "2030-01-01"), "move the split date"),
        (("--kind", "logistic", "--baseline-tolerance", 0.01), "has none"),
    ),
)
def test_bad_input_exits_2_with_one_line(tmp_path, monkeypatch, files, args, message):
    orders, events = files
    if args[0] in ("--holdout-from", "--kind"):
        args = ("--data", orders, "--events", events, *args)
    result = _invoke(tmp_path, monkeypatch, *args)
    assert result.exit_code == 2, result.output
    lines = _error_lines(result.stderr)
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines
    assert "Traceback" not in result.output
    assert not (tmp_path / "models" / RISK_MODEL_NAME).exists()


def test_a_champion_that_is_not_a_risk_model_is_bad_input(tmp_path, monkeypatch, files, tiny_model):
    registry = Registry(tmp_path / "models")
    registry.promote(
        RISK_MODEL_NAME, registry.create(RISK_MODEL_NAME, tiny_model, {"kind": "case_classifier"})
    )
    orders, events = files
    result = _invoke(tmp_path, monkeypatch, "--data", orders, "--events", events)
    assert result.exit_code == 2
    assert _error_lines(result.stderr)[-1].startswith("error: the champion risk@")


def test_an_unexpected_failure_exits_1_with_one_line(tmp_path, monkeypatch, files):
    import triage.jobs.retrain_risk as job

    def broken(*args, **kwargs):
        raise RuntimeError("disk full\nwhile writing")

    monkeypatch.setattr(job, "retrain_risk", broken)
    orders, events = files
    result = _invoke(tmp_path, monkeypatch, "--data", orders, "--events", events)
    assert result.exit_code == 1
    assert _error_lines(result.stderr) == [
        "retrain risk: failed: RuntimeError: disk full while writing"
    ]


def test_retrain_from_the_orders_stored_in_the_database(tmp_path, monkeypatch, market):
    import datetime as dt

    from triage.orders.storage import OrderStore
    from triage.store import Store

    empty = _invoke(tmp_path, monkeypatch, "--from-db", "--dry-run")
    assert empty.exit_code == 2 and "holds no orders" in _error_lines(empty.stderr)[-1]
    store = Store.from_settings(Settings.from_env({"data_dir": tmp_path / "var"}))
    store.migrate()
    OrderStore(store).save(*market, now=dt.datetime.now(dt.UTC))
    store.dispose()
    result = _invoke(tmp_path, monkeypatch, "--from-db", "--holdout-days", 7, "--dry-run", "--json")
    assert result.exit_code == EXIT_PROMOTED, result.output  # no champion yet: would promote
    assert json.loads(result.stdout)["status"] == "dry-run-promote"
    both = _invoke(tmp_path, monkeypatch, "--from-db", "--data", "x.csv")
    assert both.exit_code == 2 and "not both" in _error_lines(both.stderr)[-1]
