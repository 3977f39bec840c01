"""The default model, trained on the corpus's train split, on the fixed held-out split.

Accuracy floors on a fixed seed: they fail if a change to the corpus or the model makes the
default model clearly worse. The full report is in docs/BENCHMARKS.md.
"""

import pytest

from triage.cases.training import evaluate_case_model, fit_case_model


@pytest.fixture(scope="module")
def default_eval(corpus):
    train = corpus[corpus["split"] == "train"]
    test = corpus[corpus["split"] == "test"]
    model = fit_case_model(train["text"].tolist(), train["category"].tolist(), seed=0)
    metrics, _ = evaluate_case_model(
        model, test["text"].tolist(), test["category"].tolist(), test["language"].tolist()
    )
    return metrics


def test_held_out_accuracy_floor(default_eval):
    assert default_eval["accuracy"] >= 0.90
    assert default_eval["macro_f1"] >= 0.90


def test_every_language_slice(default_eval):
    for language in ("zh", "en", "mixed"):
        assert default_eval["per_language"][language]["accuracy"] >= 0.85, language


def test_every_category_recall(default_eval):
    for category, row in default_eval["per_class"].items():
        assert row["recall"] >= 0.80, category


def test_calibration_and_review_thresholds(default_eval):
    assert default_eval["ece"] <= 0.06
    assert default_eval["coverage_at_precision"] >= 0.7
    assert default_eval["precision_when_covered"] >= 0.9
