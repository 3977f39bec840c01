"""Corrections made over HTTP reach the next retraining set; retrain and monitor commands."""

import json

import pandas as pd
import pytest
from click.testing import CliRunner

from triage.cases.router import CASE_MODEL_NAME
from triage.cases.training import model_metadata
from triage.cli import cli
from triage.jobs.training_set import build_training_set
from triage.registry import Registry

TEXTS = [
    "这个价格也太贵了吧，比别家贵一倍",
    "why is this blender twice the price of last week?!",
    "my parcel is stuck in customs for 9 days",
]


def _categorize_and_correct(client, auth, corrections):
    ids = []
    for text in TEXTS:
        response = client.post("/v1/cases/categorize", json={"text": text}, headers=auth("predict"))
        assert response.status_code == 200
        ids.append(response.get_json()["prediction_id"])
    for prediction_id, category in zip(ids, corrections, strict=True):
        response = client.post(
            "/v1/feedback",
            json={"prediction_id": prediction_id, "category": category},
            headers=auth("analyst"),
        )
        assert response.status_code in (200, 201), response.get_json()
    return ids


def test_feedback_reaches_the_training_set(app, client, auth, small_cases):
    ids = _categorize_and_correct(client, auth, ["other", "other", "shipping_delay"])
    # a later correction of the first prediction wins
    client.post(
        "/v1/feedback",
        json={"prediction_id": ids[0], "category": "payment_fee"},
        headers=auth("analyst"),
    )
    rows = app.extensions["triage"].store.corrections()
    corrections = pd.DataFrame(rows, columns=["prediction_id", "text", "category", "created_at"])
    training, report = build_training_set(
        small_cases, corrections, categories=set(small_cases["category"]), evaluation_texts=[]
    )
    learned = dict(zip(training["text"], training["category"], strict=True))
    assert learned[TEXTS[0]] == "payment_fee" and learned[TEXTS[1]] == "other"
    assert learned[TEXTS[2]] == "shipping_delay"
    assert report.corrections == 4 and report.corrections_used == 3
    assert len(report.prediction_conflicts) == 1


@pytest.fixture
def registered(tmp_path, tiny_model, small_cases):
    """A registry whose champion has full metadata, including the drift reference profile."""
    models = tmp_path / "models"
    meta = model_metadata(
        tiny_model,
        small_cases["text"].tolist(),
        small_cases["category"].tolist(),
        metrics={},
        source="test",
        seed=0,
    )
    registry = Registry(models)
    version = registry.create(CASE_MODEL_NAME, tiny_model, meta)
    registry.promote(CASE_MODEL_NAME, version)
    return models, version


def test_monitor_reads_the_prediction_log(make_app, auth, registered, monkeypatch, tmp_path):
    models, version = registered
    app = make_app(models_dir=models)
    client = app.test_client()
    store = app.extensions["triage"].store
    token = store.create_key("predict", "t")[1]
    for text in TEXTS * 12:
        assert (
            client.post(
                "/v1/cases/categorize",
                json={"text": text},
                headers={"Authorization": f"Bearer {token}"},
            ).status_code
            == 200
        )
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(
        cli, ["--models-dir", str(models), "monitor", "cases", "--json"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["model"]["version"] == version and report["overall"]["n"] == 36
    assert report["overall"]["language_status"] in ("watch", "drift")  # only 3 texts, 2 in English


def test_monitor_without_champion_is_one_line(tmp_path):
    result = CliRunner().invoke(cli, ["--models-dir", str(tmp_path / "none"), "monitor", "cases"])
    assert result.exit_code == 2 and result.output.startswith("error: no champion")


@pytest.mark.slow
def test_retrain_command_dry_run_then_promote(registered, monkeypatch, tmp_path):
    models, version = registered
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    runner = CliRunner()
    dry = runner.invoke(cli, ["--models-dir", str(models), "retrain", "cases", "--dry-run"])
    assert dry.exit_code == 0, dry.output  # the full corpus beats the 24-per-class champion
    assert "dry-run-promote" in dry.output
    assert Registry(models).champion(CASE_MODEL_NAME) == version
    real = runner.invoke(cli, ["--models-dir", str(models), "retrain", "cases", "--json"])
    assert real.exit_code == 0, real.output
    result = json.loads(real.stdout)
    assert result["status"] == "promoted"
    assert Registry(models).champion(CASE_MODEL_NAME) == result["challenger_version"] != version


def test_retrain_bad_history_file_is_one_line(registered, tmp_path, monkeypatch):
    models, _ = registered
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    bad = tmp_path / "h.csv"
    bad.write_text("body\nx\n", encoding="utf-8")
    result = CliRunner().invoke(
        cli, ["--models-dir", str(models), "retrain", "cases", "--history", str(bad)]
    )
    assert result.exit_code == 2 and "missing column" in result.output
