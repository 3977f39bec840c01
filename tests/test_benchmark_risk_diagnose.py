"""benchmarks/risk_diagnose.py's two measures: how one feature alone ranks orders, and how two
models rank them within groups of snapshots."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest


@pytest.fixture
def diagnose(monkeypatch):
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    import risk_diagnose

    return risk_diagnose


def test_a_feature_alone_is_ranked_on_its_known_values_and_constants_are_left_out(diagnose):
    rng = np.random.default_rng(0)
    y = (rng.random(400) < 0.3).astype(int)
    noisy = y + rng.normal(0, 0.5, 400)
    X = pd.DataFrame(
        {
            "days_left": -noisy,  # less time left, more often late: below 0.5
            "price": np.where(np.arange(400) % 2 == 0, noisy, np.nan),  # half unknown
            "n_items": np.ones(400),  # one value: says nothing
            "weight_kg": np.where(np.arange(400) < 50, 1.0, np.nan),  # too few known
            "carrier": ["unknown"] * 400,  # categorical: not ranked
        }
    )
    out = diagnose.alone_auc(X, y)
    assert set(out) == {"days_left", "price"}
    assert out["days_left"] == pytest.approx(1 - diagnose._auc(y, noisy), abs=1e-4)
    assert out["days_left"] < 0.3 and out["price"] > 0.7


def test_groups_of_one_class_have_no_roc_auc(diagnose):
    y = np.array([0, 1, 0, 1, 1, 1])
    model = np.array([0.1, 0.9, 0.2, 0.8, 0.7, 0.6])
    baseline = np.array([0.9, 0.1, 0.2, 0.8, 0.7, 0.6])  # one pair of four in order
    groups = np.array(["a", "a", "a", "a", "b", "b"])
    out = diagnose.by_group(y, model, baseline, groups)
    assert out["a"] == {"snapshots": 4, "late_rate": 0.5, "model": 1.0, "baseline": 0.25}
    assert out["b"]["model"] is None and out["b"]["snapshots"] == 2
