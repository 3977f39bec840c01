"""The logistic risk model (the baseline) scored from its own arrays.

`LogisticRiskModel` keeps its fitted pipeline as a sum of per-column terms and scores from them
(the pipeline validates its input on every call, milliseconds for one order); these tests check
that the two give the same scores, missing values and categories it never saw included, on
every feature or on a part of them (`ORDER_ONLY`), and that its fit is the same on any number of
threads.
"""

import numpy as np
import pandas as pd
import pytest
from threadpoolctl import threadpool_limits

from tests.conftest import DATASETS, needs_datasets
from triage.errors import InputError
from triage.orders.data.olist import load_olist
from triage.orders.risk.baseline import LogisticRiskModel
from triage.orders.risk.features import ORDER_ONLY
from triage.orders.risk.training import build_dataset, point_weights, time_split


@pytest.fixture(scope="module")
def split(risk_dataset):
    train, test = time_split(risk_dataset)
    return (
        risk_dataset.X[train].reset_index(drop=True),
        risk_dataset.y[train],
        risk_dataset.X[test].reset_index(drop=True),
    )


def _odd(X: pd.DataFrame) -> pd.DataFrame:
    """Test rows with what real imports bring: missing numbers, a carrier never seen, a
    category seen too rarely to have a column of its own, a missing category."""
    X = X.copy()
    X.loc[X.index[:40], "price"] = np.nan
    X.loc[X.index[40:60], "seller_late_rate"] = np.nan
    X.loc[X.index[60:80], "carrier"] = "never-seen"
    X.loc[X.index[80:90], "category"] = None
    return X


@pytest.mark.parametrize("features", [None, ORDER_ONLY], ids=["all", "order_only"])
def test_the_terms_score_what_the_pipeline_scores(split, features):
    X, y, test = split
    X = X.copy()
    X.loc[X.index[::7], "weight_kg"] = np.nan  # missing in training: the column gets a flag
    X["freight"] = np.nan  # never known (Olist's orders table alone): kept, filled with 0
    X.loc[X.index[:15], "category"] = "rare-category"  # under min_frequency: "infrequent"
    model = LogisticRiskModel(features=features).fit(X, y)
    odd = _odd(test)
    odd.loc[odd.index[90:95], "category"] = "rare-category"
    expected = model.pipeline_.predict_proba(model._frame(odd))
    np.testing.assert_allclose(model.predict_proba(odd), expected, rtol=0, atol=1e-12)
    assert model.predict_proba(odd).shape == (len(odd), 2)
    # a model saved before the arrays (and, reading every feature, before `features`): the
    # pipeline scores, the same
    del model.terms_
    if features is None:
        del model.features
    np.testing.assert_allclose(model.predict_proba(odd), expected, rtol=0, atol=1e-12)


def test_the_logistic_model_refuses_columns_it_cannot_read(split):
    X, y, _ = split
    with pytest.raises(InputError, match="not risk features: colour"):
        LogisticRiskModel(features=("price", "colour")).fit(X, y)
    model = LogisticRiskModel(features=ORDER_ONLY).fit(X, y)
    with pytest.raises(InputError, match="feature table lacks promised_days"):
        model.predict_proba(X.drop(columns=["promised_days"]))


@pytest.mark.slow
@pytest.mark.datasets
@needs_datasets("olist", "orders.csv")
def test_the_fit_does_not_depend_on_the_number_of_threads():
    """L-BFGS stops at a point that depends on how many BLAS threads sum its gradient: on Olist's
    orders before 2017-10 the coefficients moved by up to 0.12 between one and two threads, and
    the retrain job's baseline ROC AUC in the third decimal, until the fit was held to one thread.
    Small simulated data does not show it (1e-11 apart), so this reads the real orders."""
    data = load_olist(DATASETS / "olist")
    dataset = build_dataset(data.orders, data.events)
    train, _ = time_split(dataset, test_from="2017-10-01")
    X = dataset.X[train].reset_index(drop=True)
    weights = point_weights(dataset.snapshots["point"][train])
    coefficients = []
    for threads in (1, 2):
        with threadpool_limits(limits=threads, user_api="blas"):
            model = LogisticRiskModel().fit(X, dataset.y[train], sample_weight=weights)
        coefficients.append(model.pipeline_.named_steps["model"].coef_)
    np.testing.assert_array_equal(*coefficients)
