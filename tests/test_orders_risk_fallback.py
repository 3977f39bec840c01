"""The risk model's fallback for orders that came without their optional fields.

An order imported from Olist's orders table alone has no seller, buyer, items or carrier. A model
trained on full orders scores such rows with a second booster on `ORDER_ONLY`, the features a
bare order still has; these tests check that those features are indeed the same with and without
the optional fields, that bare rows (and only they) go to the fallback, and that a model saved
before the fallback existed scores as it did.
"""

import pickle
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATASETS, needs_datasets
from triage.orders.data.fields import OPTIONAL_COLUMNS
from triage.orders.data.schema import validate_orders
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.features import (
    CATEGORICAL,
    FEATURES,
    FULL_MODEL,
    ORDER_ONLY,
    PLATFORM_ONLY,
    OrderFeatures,
    bare_rows,
)
from triage.orders.risk.model import RiskModel
from triage.orders.risk.reasons import explain_risk
from triage.orders.risk.training import build_dataset, evaluate_risk, fit_risk_model, time_split


@pytest.fixture(scope="module")
def sim():
    return simulate_marketplace(2_500, seed=5, start="2024-03-01", days=30)


@pytest.fixture(scope="module")
def bare_orders(sim):
    """The simulated orders as an import without their optional fields gives them."""
    return validate_orders(sim.orders.drop(columns=list(OPTIONAL_COLUMNS)))


@pytest.fixture(scope="module")
def trained(sim):
    dataset = build_dataset(sim.orders, sim.events)
    train, _ = time_split(dataset)
    model = fit_risk_model(dataset, train, params={"max_iter": 30}, target_precision=0.6)
    return model, dataset


def _snapshots(orders: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Every order at purchase + 1 day and + 4 days, in seconds."""
    rows = np.tile(np.arange(len(orders)), 2)
    purchase = orders["purchased_at"].to_numpy("datetime64[s]").astype(np.int64)
    return rows, np.concatenate([purchase + 86_400, purchase + 4 * 86_400])


def test_order_only_features_do_not_read_the_optional_fields(sim, bare_orders):
    rows, times = _snapshots(sim.orders)
    full = OrderFeatures(sim.orders, sim.events).build(rows, times)
    bare = OrderFeatures(bare_orders, sim.events).build(rows, times)
    for column in ORDER_ONLY:
        if column in CATEGORICAL:
            assert (full[column] == bare[column]).all(), column
        else:
            np.testing.assert_allclose(full[column], bare[column], rtol=1e-12, err_msg=column)
    # and the optional fields matter to the others: the fallback has something to leave out
    differ = [c for c in FEATURES if c not in ORDER_ONLY and not full[c].equals(bare[c])]
    assert {"seller_late_rate", "price", "carrier"} <= set(differ)


def test_bare_rows_are_the_orders_without_optional_fields(sim, bare_orders):
    rows, times = _snapshots(sim.orders)
    assert not bare_rows(OrderFeatures(sim.orders, sim.events).build(rows, times)).any()
    assert bare_rows(OrderFeatures(bare_orders, sim.events).build(rows, times)).all()
    # one optional field known is enough to be scored by the full model
    one = bare_orders.copy()
    one["price"] = sim.orders["price"].to_numpy()
    assert not bare_rows(OrderFeatures(one, sim.events).build(rows, times)).any()


def test_the_fallback_scores_bare_rows_and_only_them(trained, sim, bare_orders):
    model, dataset = trained
    assert tuple(model.fallback_.feature_names_in_) == ORDER_ONLY
    assert model.fallback_.fallback_ is None
    rows, times = _snapshots(sim.orders)
    full = OrderFeatures(sim.orders, sim.events).build(rows, times)
    bare = OrderFeatures(bare_orders, sim.events).build(rows, times)

    np.testing.assert_array_equal(
        model.predict_proba(full), RiskModel.predict_proba(_without_fallback(model), full)
    )
    np.testing.assert_array_equal(model.predict_proba(bare), model.fallback_.predict_proba(bare))
    # the full model would read the blanks: its scores of the bare rows are not the fallback's
    assert not np.allclose(
        _without_fallback(model).predict_proba(bare)[:, 1], model.predict_proba(bare)[:, 1]
    )
    # mixed rows: each scored by its own model, in place
    mixed = pd.concat([full.iloc[::2], bare.iloc[1::2]]).sort_index(kind="stable")
    expected = np.where(
        np.arange(len(mixed)) % 2 == 0,
        model.predict_proba(full)[:, 1],
        model.predict_proba(bare)[:, 1],
    )
    np.testing.assert_array_equal(model.predict_proba(mixed.reset_index(drop=True))[:, 1], expected)


def _without_fallback(model: RiskModel) -> RiskModel:
    """`model` as pickled before the fallback existed (no `fallback_`, no parameters for it)."""
    state = pickle.loads(pickle.dumps(model)).__dict__
    for name in ("fallback_", "fallback", "features"):
        state.pop(name)
    old = RiskModel.__new__(RiskModel)
    old.__dict__.update(state)
    return old


def test_a_model_saved_before_the_fallback_scores_bare_rows_as_before(trained, sim, bare_orders):
    model, _ = trained
    old = _without_fallback(model)
    rows, times = _snapshots(sim.orders)
    bare = OrderFeatures(bare_orders, sim.events).build(rows, times)
    late = old.predict_proba(bare)[:, 1]
    assert np.isfinite(late).all() and ((late > 0) & (late < 1)).all()
    np.testing.assert_array_equal(late, old._proba(bare))


def test_no_fallback_when_asked_or_when_the_model_reads_order_only_features(trained):
    _, dataset = trained
    train, _ = time_split(dataset)
    X, y, t = dataset.X[train], dataset.y[train], dataset.purchase[train]
    assert RiskModel(max_iter=10, search=False, fallback=False).fit(X, y, t).fallback_ is None
    small = RiskModel(max_iter=10, search=False, features=ORDER_ONLY).fit(X, y, t)
    assert small.fallback_ is None and tuple(small.feature_names_in_) == ORDER_ONLY
    with pytest.raises(Exception, match="not risk features: shoe_size"):
        RiskModel(features=("days_left", "shoe_size")).fit(X, y, t)


def test_the_full_model_reads_its_own_features_and_the_fallback_the_platform_ones(trained):
    model, _ = trained
    assert tuple(model.feature_names_in_) == FULL_MODEL
    assert not set(PLATFORM_ONLY) & set(FULL_MODEL)
    assert set(PLATFORM_ONLY) <= set(model.fallback_.feature_names_in_)


def test_bare_orders_are_explained_by_the_model_that_scores_them(trained, sim, bare_orders):
    model, _ = trained
    rows, times = _snapshots(sim.orders)
    full = OrderFeatures(sim.orders, sim.events).build(rows, times).iloc[:200]
    bare = OrderFeatures(bare_orders, sim.events).build(rows, times).iloc[200:400]
    mixed = pd.concat([full, bare], ignore_index=True).sample(frac=1.0, random_state=0)
    risk, reasons = explain_risk(model, mixed, min_impact=1e-9)
    np.testing.assert_allclose(risk, model.predict_proba(mixed)[:, 1], rtol=1e-12)
    is_bare = bare_rows(mixed.reset_index(drop=True))
    # the fallback reads none of these: they can never be a bare order's reason
    unread = {"seller_history", "lane_history", "carrier", "parcel"}
    cited = {r.factor for i in np.flatnonzero(is_bare) for r in reasons[i]}
    assert cited and not cited & unread
    assert {r.factor for i in np.flatnonzero(~is_bare) for r in reasons[i]} & unread
    # each row's reasons are those it gets alone
    for i in (0, int(np.flatnonzero(is_bare)[0])):
        alone = explain_risk(model, mixed.iloc[[i]], min_impact=1e-9)[1][0]
        assert [r.factor for r in alone] == [r.factor for r in reasons[i]]


def test_the_threshold_is_chosen_on_the_scores_bare_orders_get(sim, bare_orders):
    dataset = build_dataset(bare_orders, sim.events)
    train, _ = time_split(dataset)
    X, y, t = dataset.X[train].reset_index(drop=True), dataset.y[train], dataset.purchase[train]
    model = RiskModel(max_iter=20).fit(X, y, t)
    alone = RiskModel(max_iter=20, features=ORDER_ONLY).fit(X, y, t)
    # every row is bare: the holdout scores are the fallback's, which is the model on ORDER_ONLY
    np.testing.assert_array_equal(model.holdout_["mask"], alone.holdout_["mask"])
    np.testing.assert_allclose(model.holdout_["proba"], alone.holdout_["proba"], rtol=1e-12)
    assert model.fallback_.holdout_ is None
    np.testing.assert_allclose(
        model.predict_proba(X)[:, 1], alone.predict_proba(X)[:, 1], rtol=1e-12
    )


@pytest.mark.datasets
@needs_datasets("olist", "orders.csv")
def test_olist_trained_on_all_tables_scores_the_orders_table_alone(monkeypatch):
    """The issue's case: trained on the five Olist tables, scored on later orders imported
    from the orders table alone (as risk_oot.py's "mixed" fixed split, whose figures these
    floors sit just under: purchase 0.467, handover 0.601, daily 0.742)."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parent.parent / "benchmarks"))
    from risk_oot import FIXED, load, mixed  # the benchmark's own tables, not a copy

    folder = DATASETS / "olist"
    since, until = FIXED
    dataset = build_dataset(*mixed(load(folder, "all"), load(folder, "orders"), since))
    train, test = time_split(dataset, test_from=since, test_until=until)
    assert not bare_rows(dataset.X[train]).all() and bare_rows(dataset.X[test]).all()
    model = fit_risk_model(dataset, train, target_precision=0.6)
    X = dataset.X[test].reset_index(drop=True)
    np.testing.assert_array_equal(model.predict_proba(X), model.fallback_.predict_proba(X))
    metrics, _ = evaluate_risk(model, dataset, test)
    points = metrics["decision_points"]
    assert points["open_daily"]["roc_auc"] > 0.73
    assert points["handover"]["roc_auc"] > 0.58
    assert points["purchase"]["roc_auc"] > 0.44
    assert 0 < model.threshold_ < 1
