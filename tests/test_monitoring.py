"""Drift signals: the population stability index and the per-period report."""

import numpy as np
import pandas as pd
import pytest

from triage.monitoring import drift_report, psi, reference_profile, status_of


def test_psi_is_zero_for_equal_and_large_for_shifted():
    assert psi([0.5, 0.3, 0.2], [0.5, 0.3, 0.2]) == pytest.approx(0.0, abs=1e-12)
    assert psi([0.5, 0.3, 0.2], [0.45, 0.33, 0.22]) < 0.1
    assert psi([0.5, 0.3, 0.2], [0.1, 0.2, 0.7]) > 0.25
    assert status_of(0.05) == "stable" and status_of(0.2) == "watch" and status_of(0.4) == "drift"


REFERENCE = reference_profile(
    ["where is my parcel"] * 50 + ["我要退款"] * 50,
    ["shipping_delay"] * 50 + ["return_refund"] * 50,
    [0.95] * 100,
    ["return_refund", "shipping_delay"],
)


def _log(n, start, category, language, confidence):
    return pd.DataFrame(
        {
            "created_at": pd.date_range(start, periods=n, freq="h", tz="UTC"),
            "category": category,
            "language": language,
            "confidence": confidence,
        }
    )


def test_reference_profile_shares():
    assert REFERENCE["categories"] == {"return_refund": 0.5, "shipping_delay": 0.5}
    assert REFERENCE["languages"]["en"] == 0.5 and REFERENCE["languages"]["zh"] == 0.5
    assert sum(REFERENCE["confidence"]) == pytest.approx(1.0)


def test_stable_log_is_stable_and_a_shift_is_flagged_in_its_period():
    rng = np.random.default_rng(0)
    week1 = pd.concat(
        [
            _log(60, "2026-11-02", "shipping_delay", "en", 0.95),
            _log(60, "2026-11-02", "return_refund", "zh", 0.95),
        ]
    )
    week2 = _log(120, "2026-11-09", "return_refund", "zh", rng.uniform(0.3, 0.6, 120))
    report = drift_report(REFERENCE, week1, period="W")
    assert report["overall"]["status"] == "stable"
    report = drift_report(REFERENCE, pd.concat([week1, week2]), period="W")
    first, second = report["periods"]
    assert first["category_status"] == "stable" and second["category_status"] == "drift"
    assert second["confidence_status"] == "drift" and second["mean_confidence"] < 0.6
    assert report["overall"]["status"] == "drift"


def test_small_periods_and_empty_logs():
    report = drift_report(REFERENCE, _log(5, "2026-11-02", "other", "en", 0.5))
    assert report["periods"][0]["note"].startswith("fewer than")
    assert report["overall"]["unknown_categories"] == ["other"]
    assert (
        drift_report(
            REFERENCE, pd.DataFrame(columns=["created_at", "category", "language", "confidence"])
        )["overall"]["status"]
        == "no data"
    )
