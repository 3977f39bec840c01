"""`LogisticRiskModel`: the logistic-regression baseline on the same as-of features.

Same ``fit(X, y, times)`` / ``predict_proba(X)`` interface as `RiskModel`, so benchmarks and
``triage train risk --kind logistic`` compare the two on identical rows. Numeric features are
imputed with their median (plus a missing flag), log-scaled where heavy-tailed and
standardized; categorical ones are one-hot encoded.

The fitted pipeline is a sum of one term per column, so it is also kept as arrays (`_Terms`)
and scored from them: the same scores, without the pipeline's per-call validation, which
costs milliseconds for one order where the arrays cost a fraction of one.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline, make_pipeline
from sklearn.preprocessing import FunctionTransformer, OneHotEncoder, StandardScaler
from threadpoolctl import threadpool_limits

from triage.errors import InputError, NotFittedError
from triage.orders.risk.features import CATEGORICAL, FEATURES, NUMERIC, check_columns

__all__ = ["LogisticRiskModel"]

_HEAVY = ("weight_kg", "price", "freight", "distance_km", "seller_orders", "lane_orders")
_UNSEEN = "\x00unseen"  # a category no model has seen (encoded as zeros)


def _signed_log(values: np.ndarray) -> np.ndarray:
    return np.sign(values) * np.log1p(np.abs(values))


class _Terms:
    """A fitted `LogisticRiskModel` pipeline as arrays: its log-odds are the intercept plus, per
    numeric column, a weight of its imputed, scaled value and one of its missing flag, and per
    categorical column a weight looked up by category (0 for one it never saw)."""

    def __init__(self, pipeline: Pipeline):
        features = pipeline.named_steps["features"]
        coef = pipeline.named_steps["model"].coef_.ravel()
        self.intercept = float(pipeline.named_steps["model"].intercept_[0])
        self.numeric: list[dict] = []
        for name, steps, names in features.transformers_:
            if name not in ("heavy", "light") or not len(names):
                continue
            weights = coef[features.output_indices_[name]]
            imputer, scaler = steps.steps[0][1], steps.steps[-1][1]
            log = name == "heavy"
            k = len(names)
            # every term is w * (f(x) - mean) / scale, with f the signed log or identity
            slope = weights / scaler.scale_
            self.numeric.append(
                {
                    "columns": list(names),
                    "log": log,
                    "fill": imputer.statistics_,
                    "slope": slope[:k],
                    "shift": scaler.mean_[:k],
                    "flagged": imputer.indicator_.features_,
                    # a missing flag is 0 or 1: its term for each, after the same transform
                    "flag_terms": np.stack(
                        [
                            slope[k:] * ((_signed_log(v) if log else v) - scaler.mean_[k:])
                            for v in (0.0, 1.0)
                        ]
                    ),
                }
            )
        self.categorical: dict[str, pd.Series] = {}
        if "categorical" in features.named_transformers_:
            encoder = features.named_transformers_["categorical"]
            weights = coef[features.output_indices_["categorical"]]
            names = list(encoder.feature_names_in_)
            for j, name in enumerate(names):
                # each category alone (the other columns unseen, which encode as zeros)
                known = [str(c) for c in encoder.categories_[j]]
                probe = pd.DataFrame({other: [_UNSEEN] * len(known) for other in names})
                probe[name] = known
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", UserWarning)  # the unseen values
                    onehot = encoder.transform(probe)
                onehot = onehot.toarray() if hasattr(onehot, "toarray") else onehot
                self.categorical[name] = pd.Series(onehot @ weights, index=known)

    def log_odds(self, frame: pd.DataFrame) -> np.ndarray:
        out = np.full(len(frame), self.intercept)
        for part in self.numeric:
            values = frame[part["columns"]].to_numpy(dtype=float)
            missing = np.isnan(values)
            values = np.where(missing, part["fill"], values)
            if part["log"]:
                values = _signed_log(values)
            out += (values - part["shift"]) @ part["slope"]
            flags = missing[:, part["flagged"]]
            absent, present = part["flag_terms"]
            out += np.where(flags, present, absent).sum(axis=1)
        for name, weights in self.categorical.items():
            values = frame[name].astype(str).to_numpy(object)  # as `_frame` gives the pipeline
            codes = weights.index.get_indexer(pd.Index(values, dtype=object))
            out += np.where(codes < 0, 0.0, weights.to_numpy()[codes])
        return out


class LogisticRiskModel(ClassifierMixin, BaseEstimator):
    """Logistic regression on `features` (by default `FEATURES`); `times` is accepted for
    interface parity and unused."""

    def __init__(
        self, C: float = 1.0, max_iter: int = 2000, features: tuple[str, ...] | None = None
    ):
        self.C = C
        self.max_iter = max_iter
        self.features = features

    def _columns(self) -> tuple[str, ...]:
        features = getattr(self, "features", None)  # absent from a model saved before it
        return FEATURES if features is None else tuple(features)

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
        columns = self._columns()
        frame = self._frame(X)  # checks the columns before any fitted state is set
        heavy = [c for c in NUMERIC if c in _HEAVY and c in columns]
        light = [c for c in NUMERIC if c not in _HEAVY and c in columns]
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
                                [c for c in CATEGORICAL if c in columns],
                            ),
                        ]
                    ),
                ),
                ("model", LogisticRegression(C=self.C, max_iter=self.max_iter)),
            ]
        )
        # one BLAS thread: L-BFGS stops once its tolerance is met, and the sums it takes differ
        # with the number of threads, so on more threads the coefficients (and the ROC AUC in the
        # third decimal) depend on the machine's cores; for a problem this small one thread is
        # also faster (Olist before 2017-10, 83,482 snapshots: 2.6 s against 4.4 s on 2 threads)
        with threadpool_limits(limits=1, user_api="blas"):
            self.pipeline_.fit(frame, y, model__sample_weight=sample_weight)
        self.terms_ = _Terms(self.pipeline_)
        self.classes_ = np.array([0, 1])
        return self

    def _frame(self, X: pd.DataFrame) -> pd.DataFrame:
        columns = self._columns()
        check_columns(columns, X)
        frame = X[list(columns)].copy()
        for name in CATEGORICAL:
            if name in frame:
                frame[name] = frame[name].astype(str)
        return frame

    def decision_function(self, X: pd.DataFrame) -> np.ndarray:
        """Log-odds of late per row."""
        if not hasattr(self, "pipeline_"):
            raise NotFittedError("LogisticRiskModel is not fitted; call fit first")
        terms = getattr(self, "terms_", None)  # absent from a model saved before it
        if terms is None:
            return self.pipeline_.decision_function(self._frame(X))
        check_columns(self._columns(), X)
        return terms.log_odds(X)

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        late = 1.0 / (1.0 + np.exp(-self.decision_function(X)))
        return np.column_stack([1 - late, late])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
