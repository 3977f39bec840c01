import numpy as np
import pytest

from triage.cases.calibration import (
    choose_thresholds,
    expected_calibration_error,
    fit_temperature,
    scores_to_proba,
)


def test_temperature_recovers_the_generating_temperature():
    rng = np.random.default_rng(0)
    logits = rng.normal(0, 3, size=(20000, 5))
    true_t = 2.5
    proba = scores_to_proba(logits, true_t)
    y = np.array([rng.choice(5, p=p) for p in proba])
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.05)


def test_ece_is_small_for_calibrated_and_large_for_overconfident():
    rng = np.random.default_rng(1)
    conf = rng.uniform(0.3, 1.0, 50000)
    correct = rng.uniform(size=conf.size) < conf
    assert expected_calibration_error(conf, correct) < 0.01
    assert expected_calibration_error(np.full(1000, 0.99), np.arange(1000) < 600) == pytest.approx(
        0.39
    )


def test_thresholds_hold_the_target_precision():
    rng = np.random.default_rng(2)
    n, k = 4000, 4
    y = rng.integers(0, k, n)
    logits = rng.normal(0, 1, (n, k))
    logits[np.arange(n), y] += rng.uniform(0, 4, n)  # easier cases get a larger margin
    proba = scores_to_proba(logits, 1.0)
    thresholds = choose_thresholds(proba, y, target=0.9)
    pred, conf = proba.argmax(1), proba.max(1)
    for c in range(k):
        keep = (pred == c) & (conf >= thresholds[c])
        assert keep.sum() > 50
        assert (y[keep] == c).mean() >= 0.9


def test_unreachable_precision_means_always_review():
    proba = np.array([[0.6, 0.4]] * 20 + [[0.4, 0.6]] * 20)
    y = np.array([1] * 20 + [0] * 20)  # every prediction wrong
    assert (choose_thresholds(proba, y, target=0.9, min_support=5) == 1.0).all()
