"""`LogisticRiskModel`: the logistic-regression baseline on the same as-of features.

Same ``fit(X, y, times)`` / ``predict_proba(X)`` interface as `RiskModel`, so benchmarks and
``triage train risk --kind logistic`` compare the two on identical rows. Numeric features are
imputed with their median (plus a missing flag), log-scaled where heavy-tailed and
standardized; categorical ones are one-hot encoded.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler

from triage.errors import InputError, NotFittedError
from triage.orders.risk.features import CATEGORICAL, FEATURES, NUMERIC

__all__ = ["LogisticRiskModel"]

_HEAVY = ("weight_kg", "price", "freight", "distance_km", "seller_orders", "lane_orders")


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


class LogisticRiskModel(ClassifierMixin, BaseEstimator):
    """Logistic regression on `FEATURES`; `times` is accepted for interface parity and unused."""

    def __init__(self, C: float = 1.0, max_iter: int = 2000):
        self.C = C
        self.max_iter = max_iter

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        times: np.ndarray | None = None,
        sample_weight: np.ndarray | None = None,
    ) -> LogisticRiskModel:
        y = np.asarray(y, dtype=int)
        if len(np.unique(y)) < 2:
            raise InputError("the training data holds only late or only on-time orders; need both")
        heavy = [c for c in NUMERIC if c in _HEAVY]
        light = [c for c in NUMERIC if c not in _HEAVY]
        numeric = lambda log: make_pipeline(  # noqa: E731 - two near-identical pipelines
            SimpleImputer(strategy="median", add_indicator=True, keep_empty_features=True),
            FunctionTransformer(_signed_log) if log else "passthrough",
            StandardScaler(),
        )
        self.pipeline_ = Pipeline(
            [
                (
                    "features",
                    ColumnTransformer(
                        [
                            ("heavy", numeric(True), heavy),
                            ("light", numeric(False), light),
                            (
                                "categorical",
                                OneHotEncoder(handle_unknown="ignore", min_frequency=20),
                                list(CATEGORICAL),
                            ),
                        ]
                    ),
                ),
                ("model", LogisticRegression(C=self.C, max_iter=self.max_iter)),
            ]
        )
        self.pipeline_.fit(self._frame(X), y, model__sample_weight=sample_weight)
        self.classes_ = np.array([0, 1])
        return self

    @staticmethod
    def _frame(X: pd.DataFrame) -> pd.DataFrame:
        frame = X[list(FEATURES)].copy()
        for name in CATEGORICAL:
            frame[name] = frame[name].astype(str)
        return frame

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("LogisticRiskModel is not fitted; call fit first")
        return self.pipeline_.predict_proba(self._frame(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
