"""RiskModel learning how late an order is (days from the end of its promised day to its
delivery, clipped) beside or instead of whether: ``target="stack"`` (the default) and
``"lateness"``."""

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

from triage.errors import InputError
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.model import RiskModel, encode_features
from triage.orders.risk.snapshots import DAY, late_labels, lateness_days, promise_end
from triage.orders.risk.training import evaluate_risk, fit_risk_model, time_split


@pytest.fixture(scope="module")
def dataset(risk_dataset):
    return risk_dataset


@pytest.fixture(scope="module")
def split(dataset):
    return time_split(dataset)


def test_lateness_agrees_with_the_label_and_counts_days_from_the_promised_day():
    sim = simulate_marketplace(1_500, seed=4, start="2024-10-25", days=30)
    labels = late_labels(sim.orders, sim.events)
    days = lateness_days(sim.orders, sim.events, labels)
    known = ~np.isnan(labels)
    assert known.sum() > 1000 and np.isnan(days[~known]).all()
    assert ((days[known] >= 0) == (labels[known] == 1)).all()
    delivered = pd.to_datetime(sim.orders["delivered_at"], utc=True)
    some = np.flatnonzero(known & delivered.notna().to_numpy())[:50]
    expected = (
        delivered.iloc[some].astype("int64").to_numpy() // 10**9 - promise_end(sim.orders)[some]
    ) / DAY
    # the delivered event may come before delivered_at, never after it
    assert (days[some] <= expected + 1e-9).all() and np.isfinite(days[some]).all()


def test_a_lost_order_is_infinitely_late_and_a_canceled_one_unknown():
    orders = pd.DataFrame(
        {
            "order_id": ["lost", "early", "canceled"],
            "purchased_at": pd.to_datetime(["2024-01-01", "2024-01-01", "2024-01-01"], utc=True),
            "promised_date": pd.to_datetime(["2024-01-05", "2024-01-05", "2024-01-05"], utc=True),
            "delivered_at": pd.to_datetime([None, "2024-01-04 12:00", None], utc=True),
            "canceled": [False, False, True],
        }
    )
    events = pd.DataFrame({"order_id": [], "event_type": [], "time": pd.to_datetime([], utc=True)})
    labels = late_labels(orders, events, horizon=pd.Timestamp("2024-03-01", tz="UTC"))
    days = lateness_days(orders, events, labels)
    assert labels.tolist()[:2] == [1.0, 0.0] and np.isnan(labels[2])
    assert days[0] == np.inf and days[1] == pytest.approx(-1.5) and np.isnan(days[2])


def _held_out(model, dataset, test) -> dict:
    """The metrics per decision point on the test snapshots, once their risks are checked to be
    probabilities whose mean is near the late rate (calibrated in the large)."""
    metrics, proba = evaluate_risk(model, dataset, test)
    assert ((proba >= 0) & (proba <= 1)).all()
    assert abs(proba.mean() - dataset.y[test].mean()) < 0.05
    return metrics["decision_points"]


def test_the_lateness_model_learns_a_lateness_and_scores_calibrated_probabilities(dataset, split):
    train, test = split
    model = fit_risk_model(dataset, train, params={"target": "lateness", "max_iter": 80})
    assert isinstance(model.booster_, HistGradientBoostingRegressor)
    assert isinstance(model.fallback_.booster_, HistGradientBoostingRegressor)
    points = _held_out(model, dataset, test)
    assert points["open_daily"]["roc_auc"] > 0.85 and points["purchase"]["roc_auc"] > 0.65
    # a later delivery predicted is a higher risk: the calibrator is increasing
    assert model.calibrator_.coef_[0, 0] > 0


def test_the_clip_bounds_what_the_booster_learns(dataset, split):
    train, _ = split
    X = dataset.X[train].reset_index(drop=True)
    model = RiskModel(target="lateness", clip_days=2.0, max_iter=30, search=False, fallback=False)
    model.fit(X, dataset.y[train], dataset.purchase[train], lateness=dataset.lateness[train])
    matrix = encode_features(X, model.levels_, tuple(model.feature_names_in_))
    raw = model.booster_.predict(model._quantize(matrix))
    assert raw.min() >= -2.0 - 1e-9 and raw.max() <= 2.0 + 1e-9


def test_the_lateness_target_refuses_what_it_cannot_use(dataset, split):
    train, _ = split
    X, y = dataset.X[train].reset_index(drop=True), dataset.y[train]
    times, lateness = dataset.purchase[train], dataset.lateness[train]
    small = {"max_iter": 5, "search": False, "fallback": False}
    with pytest.raises(InputError, match="needs the lateness"):
        RiskModel(target="lateness", **small).fit(X, y, times)
    with pytest.raises(InputError, match="needs a calibration"):
        RiskModel(target="lateness", calibration="none", **small).fit(
            X, y, times, lateness=lateness
        )
    with pytest.raises(InputError, match="agree with y"):
        RiskModel(target="lateness", **small).fit(X, 1 - y, times, lateness=lateness)
    with pytest.raises(InputError, match="target must be"):
        RiskModel(target="delay", **small).fit(X, y, times, lateness=lateness)
    with pytest.raises(InputError, match="needs the lateness"):
        RiskModel(target="stack", **small).fit(X, y, times, lateness=lateness[:-1])


def test_the_default_stacks_whether_and_how_late(dataset, split):
    train, test = split
    model = fit_risk_model(dataset, train, params={"max_iter": 80})
    assert model.target_ == "stack"
    assert isinstance(model.booster_, HistGradientBoostingClassifier)
    assert isinstance(model.partner_, HistGradientBoostingRegressor)
    # one logistic map of (log-odds of P(late), lateness), each booster with its own settings
    assert model.calibrator_.coef_.shape == (1, 2)
    assert set(model.chosen_params_) == {"late", "lateness"}
    # the fallback for bare orders stacks the two as well, on its own columns
    assert model.fallback_.target_ == "stack"
    assert isinstance(model.fallback_.partner_, HistGradientBoostingRegressor)
    points = _held_out(model, dataset, test)
    assert points["open_daily"]["roc_auc"] > 0.88 and points["purchase"]["roc_auc"] > 0.7
    # the map reads both: neither weight is zero, and more lateness predicted is more risk
    assert model.calibrator_.coef_[0, 1] > 0 and model.calibrator_.coef_[0, 0] != 0


def test_a_stack_without_a_lateness_is_the_plain_model(dataset, split):
    train, test = split
    X, y = dataset.X[train].reset_index(drop=True), dataset.y[train]
    times, later = dataset.purchase[train], dataset.X[test].reset_index(drop=True)
    stack = RiskModel(max_iter=30).fit(X, y, times)
    plain = RiskModel(max_iter=30, target="late").fit(X, y, times)
    assert stack.target_ == "late" and stack.partner_ is None
    np.testing.assert_array_equal(stack.predict_proba(later), plain.predict_proba(later))
    with pytest.raises(InputError, match="sigmoid calibration"):
        RiskModel(calibration="isotonic", max_iter=5).fit(
            X, y, times, lateness=dataset.lateness[train]
        )


def test_a_model_saved_before_the_target_existed_scores_as_before(dataset, split):
    train, test = split
    model = fit_risk_model(dataset, train, params={"max_iter": 30, "target": "late"})
    X = dataset.X[test].reset_index(drop=True)
    before = model.predict_proba(X)
    for part in (model, model.fallback_):
        # what unpickling a model of an older version gives
        del part.target, part.clip_days, part.target_, part.partner_
    np.testing.assert_array_equal(model.predict_proba(X), before)
