"""Retraining: the merge of corrections, the gate, and whole runs against a champion."""

import dataclasses

import pandas as pd
import pytest

from triage.cases.router import CASE_MODEL_NAME
from triage.cases.training import fit_case_model
from triage.config import Settings
from triage.jobs.gate import GatePolicy, compare
from triage.jobs.retrain import EXIT_PROMOTED, EXIT_REJECTED, retrain_cases
from triage.jobs.training_set import build_training_set
from triage.registry import Registry

CATS = {"shipping_delay", "return_refund", "other"}


def _metrics(macro, ece, recalls, langs):
    return {
        "macro_f1": macro,
        "ece": ece,
        "per_class": {c: {"recall": r, "support": 10} for c, r in recalls.items()},
        "per_language": {lang: {"accuracy": a} for lang, a in langs.items()},
    }


def test_gate_accepts_better_and_rejects_worse():
    champion = _metrics(0.90, 0.03, {"a": 0.9, "b": 0.8}, {"zh": 0.9, "en": 0.88})
    better = _metrics(0.92, 0.03, {"a": 0.91, "b": 0.85}, {"zh": 0.92, "en": 0.9})
    assert compare(champion, better).promote
    worse_recall = _metrics(0.91, 0.03, {"a": 0.95, "b": 0.7}, {"zh": 0.9, "en": 0.9})
    decision = compare(champion, worse_recall)
    assert not decision.promote and decision.reasons == [
        "recall of b fell from 0.8000 to 0.7000 (tolerance 0.02)"
    ]
    worse_ece = _metrics(0.90, 0.08, {"a": 0.9, "b": 0.8}, {"zh": 0.9, "en": 0.88})
    assert compare(champion, worse_ece).reasons == [
        "ECE rose from 0.0300 to 0.0800 (tolerance 0.02)"
    ]
    worse_f1 = _metrics(0.894, 0.03, {"a": 0.9, "b": 0.8}, {"zh": 0.9, "en": 0.88})
    assert not compare(champion, worse_f1).promote  # 0.006 lower: beyond the default 0.005
    assert compare(champion, worse_f1, GatePolicy(macro_f1_tolerance=0.01)).promote
    noise = _metrics(0.899, 0.03, {"a": 0.9, "b": 0.8}, {"zh": 0.9, "en": 0.88})
    assert compare(champion, noise).promote
    assert not compare(champion, noise, GatePolicy(macro_f1_tolerance=0.0)).promote
    assert compare(None, worse_f1).promote  # no champion yet


def test_latest_correction_wins_and_conflicts_are_reported():
    base = pd.DataFrame(
        {
            "text": ["where is my parcel", "I want a refund"],
            "category": ["shipping_delay", "return_refund"],
        }
    )
    corrections = pd.DataFrame(
        {
            "prediction_id": ["p1", "p1", "p2", "p3", "p4"],
            "text": [
                "Where is my parcel",
                "Where is my parcel",
                "price too high",
                "nice site",
                "x",
            ],
            "category": ["other", "return_refund", "other", "other", "made_up"],
            "created_at": [
                "2026-01-01T10:00Z",
                "2026-01-02T10:00Z",
                "2026-01-01T00:00Z",
                "2026-01-01T00:00Z",
                "2026-01-01T00:00Z",
            ],
        }
    )
    rows, report = build_training_set(
        base, corrections, categories=CATS, evaluation_texts=["NICE SITE"]
    )
    by_text = dict(zip(rows["text"], rows["category"], strict=True))
    assert by_text["Where is my parcel"] == "return_refund"  # the later correction
    assert "where is my parcel" not in by_text  # replaced (same normalized text)
    assert report.overrides == 1
    assert report.prediction_conflicts[0]["kept"] == "return_refund"
    assert report.unknown_categories == ["made_up"]
    assert report.removed_eval_overlap == 1 and "nice site" not in by_text
    assert by_text["price too high"] == "other"


@pytest.fixture
def settings(tmp_path):
    """Settings of a fresh registry; no order-dependent texts (the gate is under test here, and
    fitting the order-aware part costs each retraining about 20 s): the challenger has none.
    `test_better_challenger_is_promoted` retrains with them."""
    (tmp_path / "no-order-cases").mkdir()
    return Settings.from_env(
        {
            "models_dir": tmp_path / "models",
            "data_dir": tmp_path / "var",
            "order_cases_dir": tmp_path / "no-order-cases",
        }
    )


def _register(settings, model, promote=True):
    registry = Registry(settings.models_dir)
    version = registry.create(CASE_MODEL_NAME, model, {"kind": "case_classifier"})
    if promote:
        registry.promote(CASE_MODEL_NAME, version)
    return version


NO_CORRECTIONS = pd.DataFrame(columns=["prediction_id", "text", "category", "created_at"])


@pytest.mark.slow
def test_better_challenger_is_promoted(settings, small_cases):
    weak = fit_case_model(
        small_cases["text"].head(60).tolist() + small_cases["text"].tail(60).tolist(),
        small_cases["category"].head(60).tolist() + small_cases["category"].tail(60).tolist(),
    )
    old = _register(settings, weak)
    settings = dataclasses.replace(settings, order_cases_dir=Settings().order_cases_dir)
    result = retrain_cases(settings, NO_CORRECTIONS)
    assert result.status == "promoted" and result.exit_code == EXIT_PROMOTED
    promoted = Registry(settings.models_dir).load(CASE_MODEL_NAME).model
    assert promoted.order_stack_.n_cases_ > 1000  # the order-aware part, fitted as bootstrap's
    assert (
        Registry(settings.models_dir).champion(CASE_MODEL_NAME) == result.challenger_version != old
    )
    assert (result.report_dir / "report.md").is_file()
    assert (result.report_dir / "per_class_f1.png").is_file()


@pytest.mark.slow
def test_worse_challenger_is_rejected_and_kept(settings, corpus):
    train = corpus[corpus["split"] == "train"]
    champion = _register(
        settings, fit_case_model(train["text"].tolist(), train["category"].tolist())
    )
    # deliberately poisoned corrections: 400 shipping cases "corrected" to other
    wrong = train[train["category"] == "shipping_delay"].head(400)
    corrections = pd.DataFrame(
        {
            "prediction_id": [f"p{i}" for i in range(len(wrong))],
            "text": wrong["text"],
            "category": "other",
            "created_at": "2026-11-01T00:00Z",
        }
    )
    result = retrain_cases(settings, corrections)
    assert result.status == "rejected" and result.exit_code == EXIT_REJECTED
    assert any("recall of shipping_delay" in r for r in result.decision.reasons)
    registry = Registry(settings.models_dir)
    assert registry.champion(CASE_MODEL_NAME) == champion
    rejected = [v for v in registry.versions(CASE_MODEL_NAME) if v["status"] == "rejected"]
    assert [v["version"] for v in rejected] == [result.challenger_version]


@pytest.mark.slow
def test_dry_run_registers_nothing(settings, tiny_model):
    _register(settings, tiny_model)
    before = [v["version"] for v in Registry(settings.models_dir).versions(CASE_MODEL_NAME)]
    result = retrain_cases(settings, NO_CORRECTIONS, dry_run=True)
    assert result.status.startswith("dry-run") and result.challenger_version is None
    assert [v["version"] for v in Registry(settings.models_dir).versions(CASE_MODEL_NAME)] == before


def test_policy_is_a_value_object():
    policy = GatePolicy(recall_tolerance=0.05)
    assert dataclasses.replace(policy, ece_tolerance=0.1).recall_tolerance == 0.05
