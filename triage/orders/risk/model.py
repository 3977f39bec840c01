"""`RiskModel`: gradient-boosted P(late) on as-of features, calibrated on the latest slice.

By default (``target="stack"``) two boosters read the same features: one learns whether an
order is late, the other how late (days from the end of the promised day to the delivery,
clipped to ``±clip_days``), and one logistic map of the pair, fitted on the latest slice, gives
P(late). The lateness carries more than its sign (an order 4 days early is safer than one 4
hours early); with it the model ranked Olist's orders better out of time than the yes/no
booster alone, and the simulated ones no worse (docs/BENCHMARKS.md, "How late, not only
whether").

Follows scikit-learn's estimator contract (``__init__`` stores parameters, ``fit`` returns
``self``, fitted attributes end with ``_``). ``fit`` needs the time of each row (the purchase
time of its order) because the split is by time, never at random:

1. rows of the earliest ``1 - calibration_fraction`` of orders train the booster; with
   ``search=True`` each of `CANDIDATES` is fitted and the setting and number of trees with the
   lowest log-loss on the latest orders are kept (a time-ordered validation);
2. its scores on the latest orders fit a Platt (sigmoid) or isotonic calibrator, and give the
   out-of-time scores from which the suggestion threshold is chosen (see training.py);
3. with ``refit=True`` the booster is refitted on all rows with the chosen settings, and the
   calibrator is kept.

With ``target="stack"`` steps 1 and 3 run for each booster, and step 2 fits the logistic map of
(log-odds of the first's P(late), the second's lateness). ``fit`` then needs each row's
`lateness` (`fit_risk_model` passes it); without it the model is a plain ``"late"`` one.

>>> model = RiskModel(max_iter=50).fit(X, y, times, lateness=days)   # doctest: +SKIP
>>> model.predict_proba(X_new)[:, 1]                                  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from threadpoolctl import ThreadpoolController

from triage.errors import InputError, NotFittedError
from triage.orders.risk.features import (
    CATEGORICAL,
    FEATURES,
    FULL_MODEL,
    ORDER_ONLY,
    bare_rows,
    check_columns,
)

__all__ = ["RiskModel", "encode_features"]

MAX_LEVELS = 60
# settings tried on a time-ordered validation slice when search=True: a small, strongly
# regularized booster (right for ~10^4 orders like Olist) and a larger one (10^5 orders)
# (few trees keep scoring above 50,000 snapshots a second on one core)
CANDIDATES = (
    {"learning_rate": 0.1, "max_leaf_nodes": 7, "min_samples_leaf": 300, "l2_regularization": 10.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 50, "l2_regularization": 1.0},
)
# risk can only rise with these (+1) or fall (-1): less time left, longer silences and worse
# histories never make an order safer. Constraints keep the model sane where data is thin.
MONOTONIC = {
    "days_left": -1,
    "slack_days": -1,
    "ship_by_slack": -1,
    "days_since_last_event": 1,
    "handover_days": 1,
    "n_exceptions": 1,
    "seller_late_rate": 1,
    "lane_late_rate": 1,
    "carrier_late_rate_14d": 1,
    "region_late_rate_7d": 1,
    "seller_handling_days": 1,
    "lane_transit_days": 1,
    "expected_remaining_days": 1,
}  # categories kept per column; rarer ones become "other"


_CONTROLLER: list[ThreadpoolController] = []


def _controller() -> ThreadpoolController:
    """One thread-pool controller per process: finding the loaded thread pools takes a few
    milliseconds, too much to repeat for every prediction of one order."""
    if not _CONTROLLER:
        _CONTROLLER.append(ThreadpoolController())
    return _CONTROLLER[0]


def encode_features(
    X: pd.DataFrame, levels: dict[str, list[str]], features: tuple[str, ...] = FEATURES
) -> np.ndarray:
    """Numeric matrix of the columns `features` of `X`: categorical columns as codes into
    `levels` (unknown: "other")."""
    matrix = np.empty((len(X), len(features)))
    for j, name in enumerate(features):
        values = X[name].to_numpy()
        if name in levels:
            known = levels[name]
            # an index lookup, not pd.Categorical: values outside the categories are expected
            # here (a carrier the model never saw) and pandas deprecates them in a Categorical
            # object indexes: pandas would turn both sides into its string type first
            codes = pd.Index(known, dtype=object).get_indexer(
                pd.Index(values.astype(object), dtype=object)
            )
            matrix[:, j] = np.where(codes < 0, len(known) - 1, codes)  # the last is "other"
        else:
            matrix[:, j] = values
    return matrix


def _median(values: pd.Series) -> float:
    """The median of the known `values` (NaN when none is: no weights in Olist's orders table)."""
    known = values.to_numpy(float)
    known = known[~np.isnan(known)]
    return float(np.median(known)) if len(known) else float("nan")


def _platt(inputs: np.ndarray, y: np.ndarray) -> LogisticRegression:
    """A logistic map of `inputs` (scores as the map reads them) to P(late), all but
    unregularised (C = 10^4)."""
    return LogisticRegression(C=1e4).fit(inputs, y)


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p)).reshape(-1, 1)


class RiskModel(ClassifierMixin, BaseEstimator):
    """Calibrated HistGradientBoosting risk of an order being late, from `features` (by
    default `FULL_MODEL`).

    With ``fallback=True`` a second model of the same kind is fitted on `ORDER_ONLY`, the
    features an order without its optional fields still has, and scores the rows of such orders
    (`bare_rows`): Olist's orders table imported alone, say, against a model trained on all
    its tables. The full model would read those rows' blanks (no seller, region, price or
    carrier) as values it learned from the few such orders it saw; the fallback never reads
    them (docs/BENCHMARKS.md, "Olist out of time": the "mixed" rows). It learns what the
    full model learns (`target`), from its own columns.

    `target`: ``"stack"`` (both boosters, see above), ``"late"`` (whether alone, the model
    before 2026-12-07) or ``"lateness"`` (how late alone; lost on the simulator). `clip_days`
    bounds the lateness learned (5 days, chosen out of time on Olist among 2, 5 and 10).
    """

    def __init__(
        self,
        max_iter: int = 150,
        learning_rate: float = 0.1,
        max_leaf_nodes: int = 7,
        min_samples_leaf: int = 300,
        l2_regularization: float = 10.0,
        search: bool = True,
        calibration: str = "sigmoid",
        calibration_fraction: float = 0.2,
        refit: bool = True,
        monotonic: bool = False,
        n_threads: int | None = 1,
        random_state: int = 0,
        features: tuple[str, ...] | None = None,
        fallback: bool = True,
        target: str = "stack",
        clip_days: float = 5.0,
    ):
        self.max_iter = max_iter
        self.learning_rate = learning_rate
        self.max_leaf_nodes = max_leaf_nodes
        self.min_samples_leaf = min_samples_leaf
        self.l2_regularization = l2_regularization
        self.search = search
        self.calibration = calibration
        self.calibration_fraction = calibration_fraction
        self.refit = refit
        self.monotonic = monotonic
        self.n_threads = n_threads
        self.random_state = random_state
        self.features = features
        self.fallback = fallback
        self.target = target
        self.clip_days = clip_days

    def _columns(self) -> tuple[str, ...]:
        """The features this model reads, in order."""
        return FULL_MODEL if self.features is None else tuple(self.features)

    def _settings(self) -> list[dict]:
        own = {
            "learning_rate": self.learning_rate,
            "max_leaf_nodes": self.max_leaf_nodes,
            "min_samples_leaf": self.min_samples_leaf,
            "l2_regularization": self.l2_regularization,
        }
        return list(CANDIDATES) if self.search else [own]

    def _regression(self) -> bool:
        """Whether the fitted model is one booster of how late an order is."""
        return getattr(self, "target_", "late") == "lateness"  # absent from older saved models

    def _booster(self, goal: str, **settings):
        """A booster of `goal`: ``"late"`` (a classifier) or ``"lateness"`` (a regressor)."""
        columns = self._columns()
        mask = [name in CATEGORICAL for name in columns]
        settings = {**self._settings()[0], "max_iter": self.max_iter, **settings}
        kind = (
            HistGradientBoostingRegressor if goal == "lateness" else HistGradientBoostingClassifier
        )
        return kind(
            **settings,
            categorical_features=mask,
            monotonic_cst=[MONOTONIC.get(name, 0) for name in columns] if self.monotonic else None,
            early_stopping=False,
            random_state=self.random_state,
        )

    def _threads(self):
        """OpenMP threads for the booster: one by default. Boosting threads spin while they
        wait, so on a small shared machine (or under several service workers) more threads
        than free cores make training many times slower, not faster."""
        if self.n_threads is None:
            return contextlib.nullcontext()
        return _controller().limit(limits=self.n_threads, user_api="openmp")

    def fit(
        self,
        X: pd.DataFrame,
        y: np.ndarray,
        times: np.ndarray,
        sample_weight: np.ndarray | None = None,
        lateness: np.ndarray | None = None,
    ) -> RiskModel:
        """Fit on feature rows `X`, labels `y` (1 late) and each row's order purchase `times`.

        `sample_weight` (optional) weighs the booster's rows, e.g. to balance decision points.
        `lateness` (days from the end of the promised day to the delivery, +inf for a lost
        order; `lateness_days`) is what the second booster of ``target="stack"`` and the only
        one of ``"lateness"`` learn, clipped to ``±clip_days``; the latter needs it, the former
        without it is a plain ``"late"`` model.
        """
        with self._threads():
            return self._fit(X, y, times, sample_weight, lateness)

    def _fit(self, X, y, times, sample_weight, lateness=None) -> RiskModel:
        if self.calibration not in ("sigmoid", "isotonic", "none"):
            raise InputError(
                f"calibration must be sigmoid, isotonic or none, not {self.calibration!r}"
            )
        if self.target not in ("late", "lateness", "stack"):
            raise InputError(f"target must be late, lateness or stack, not {self.target!r}")
        columns = self._columns()
        check_columns(columns, X)
        y = np.asarray(y, dtype=int)
        times = np.asarray(times)
        if len(y) != len(X) or len(times) != len(X):
            raise InputError("X, y and times must have the same length")
        if len(np.unique(y)) < 2:
            raise InputError("the training data holds only late or only on-time orders; need both")
        goals = self._goals(y, lateness)
        self.levels_ = {}
        for name in CATEGORICAL:
            if name not in columns:
                continue
            counts = X[name].astype(str).value_counts()
            self.levels_[name] = [str(v) for v in counts.index[: MAX_LEVELS - 1]] + ["other"]
        matrix = encode_features(X, self.levels_, columns)
        # a feature missing everywhere (no weights in an orders-only Olist table, say) is a
        # constant to the booster, which cannot bin an all-missing column
        self.empty_ = [j for j in range(matrix.shape[1]) if np.isnan(matrix[:, j]).all()]
        self.edges_ = self._fit_edges(matrix)
        matrix = self._quantize(matrix)
        self.feature_names_in_ = np.asarray(columns, dtype=object)
        self.n_features_in_ = len(columns)
        self.classes_ = np.array([0, 1])

        cut = (
            np.quantile(times, 1 - self.calibration_fraction)
            if self.calibration != "none"
            else None
        )
        early = times < cut if cut is not None else np.ones(len(y), bool)
        late_part = ~early
        usable = cut is not None and late_part.sum() >= 50 and len(np.unique(y[late_part])) == 2
        usable = usable and len(np.unique(y[early])) == 2
        weight = (
            np.ones(len(y)) if sample_weight is None else np.asarray(sample_weight, dtype=float)
        )
        self.calibrator_ = None
        self.holdout_ = None
        self.partner_ = None  # the lateness booster beside booster_ (target="stack")
        # a stack with no lateness to learn, or no recent rows to weigh the two by, is "late"
        plain = self.target == "stack" and (len(goals) < 2 or not usable)
        self.target_ = "late" if plain else self.target
        if not usable:  # too little recent data to choose or calibrate: plain fit on everything
            self.chosen_params_ = self._settings()[0] | {"max_iter": self.max_iter}
            booster = self._booster(self.target_).fit(
                matrix, goals[self.target_], sample_weight=weight
            )
            if self._regression():  # a lateness is no probability: calibrated in-sample
                self.calibrator_ = self._fit_calibrator(booster.predict(matrix), y)
        elif self.target_ == "stack":
            booster, proba = self._stack(matrix, y, goals, weight, early)
            self.holdout_ = {"mask": late_part, "proba": proba}
        else:
            goal = goals[self.target_]
            booster, raw, self.chosen_params_, self.validation_log_loss_ = self._select(
                self.target_, matrix, y, goal, weight, early
            )
            self.calibrator_ = self._fit_calibrator(raw, y[late_part])
            self.holdout_ = {"mask": late_part, "proba": self._calibrate(raw)}
            if self.refit:
                booster = self._booster(self.target_, **self.chosen_params_).fit(
                    matrix, goal, sample_weight=weight
                )
        self.booster_ = booster
        self.baseline_ = {
            name: self.levels_[name][0] if name in CATEGORICAL else _median(X[name])
            for name in columns
        }
        self.fallback_ = None
        if self.fallback and set(columns) - set(ORDER_ONLY):
            # trained on every row: their ORDER_ONLY columns are what a bare order has
            fallback = clone(self).set_params(features=ORDER_ONLY, fallback=False)
            self.fallback_ = fallback._fit(X, y, times, sample_weight, lateness)
            # the holdout's scores (from which training chooses the threshold) are those the
            # model gives: the fallback's for bare rows (both models hold out the same rows)
            if self.holdout_ is not None and self.fallback_.holdout_ is not None:
                late = self.holdout_["mask"]
                bare = bare_rows(X[late])
                self.holdout_["proba"] = np.where(
                    bare, self.fallback_.holdout_["proba"], self.holdout_["proba"]
                )
            self.fallback_.holdout_ = None  # scores of the training data: not an artifact
        return self

    def _goals(self, y: np.ndarray, lateness: np.ndarray | None) -> dict[str, np.ndarray]:
        """What the boosters learn, by target: `y` ("late") and the clipped `lateness`."""
        goals = {} if self.target == "lateness" else {"late": y}
        if self.target == "late" or (self.target == "stack" and lateness is None):
            return goals  # a stack with no lateness to learn is a plain "late" model
        if self.target == "stack" and self.calibration != "sigmoid":
            raise InputError(
                "target stack weighs its two boosters with a sigmoid calibration; "
                "use target late or lateness for another one"
            )
        if self.calibration == "none":
            raise InputError("target lateness needs a calibration (sigmoid or isotonic)")
        if lateness is None or len(lateness) != len(y):
            raise InputError("target lateness needs the lateness of every row")
        lateness = np.asarray(lateness, dtype=float)
        if np.isnan(lateness).any() or ((lateness >= 0) != (y == 1)).any():
            raise InputError("lateness must be known and agree with y (late from 0 days on)")
        goals["lateness"] = np.clip(lateness, -self.clip_days, self.clip_days)
        return goals

    def _select(
        self,
        kind: str,
        matrix: np.ndarray,
        y: np.ndarray,
        goal: np.ndarray,
        weight: np.ndarray,
        early: np.ndarray,
    ):
        """Fit each candidate booster of `kind` (``"late"`` or ``"lateness"``) on the early
        rows (to `goal`: `y`, or the clipped lateness); keep the setting and number of trees
        with the lowest weighted log-loss of `y` on the later rows (a time-ordered validation).
        A predicted lateness is no probability: its log-loss is that of a Platt map fitted on
        those rows.

        Returns the chosen booster (fitted on the early rows), its scores of the later rows, its
        settings (with the number of trees as ``max_iter``) and its validation log-loss.
        """
        late = ~early
        best = None
        for settings in self._settings():
            booster = self._booster(kind, **settings).fit(
                matrix[early], goal[early], sample_weight=weight[early]
            )
            for trees, raw in enumerate(self._staged(booster, matrix[late]), start=1):
                if trees % 10 and trees != booster.n_iter_:
                    continue
                proba = raw
                if kind == "lateness":  # mapped as it is, as `_score_input` gives a lateness
                    days = raw.reshape(-1, 1)
                    proba = _platt(days, y[late]).predict_proba(days)[:, 1]
                loss = log_loss(y[late], proba, sample_weight=weight[late], labels=[0, 1])
                if best is None or loss < best[0]:
                    best = (loss, {**settings, "max_iter": trees}, booster, raw)
        loss, params, booster, raw = best
        if booster.n_iter_ != params["max_iter"]:  # fewer trees than it grew
            booster = self._booster(kind, **params).fit(
                matrix[early], goal[early], sample_weight=weight[early]
            )
        return booster, raw, params, round(float(loss), 5)

    def _stack(self, matrix, y, goals, weight, early):
        """Both boosters, each chosen on the early rows as `_select` does; one logistic map of
        (log-odds of P(late), lateness) fitted on the later rows; both refitted on all rows."""
        late = ~early
        boosters, raws, params, losses = {}, {}, {}, {}
        for kind, goal in goals.items():
            boosters[kind], raws[kind], params[kind], losses[kind] = self._select(
                kind, matrix, y, goal, weight, early
            )
        self.validation_log_loss_ = losses
        raw = np.column_stack([raws["late"], raws["lateness"]])
        self.calibrator_ = self._platt(raw, y[late])
        proba = self._calibrate(raw)
        if self.refit:
            for kind, goal in goals.items():
                boosters[kind] = self._booster(kind, **params[kind]).fit(
                    matrix, goal, sample_weight=weight
                )
        self.chosen_params_ = params
        self.partner_ = boosters["lateness"]
        return boosters["late"], proba

    @staticmethod
    def _staged(booster, matrix: np.ndarray):
        """The booster's raw scores of `matrix` after each tree: P(late), or the lateness."""
        if isinstance(booster, HistGradientBoostingRegressor):
            yield from booster.staged_predict(matrix)
        else:
            for proba in booster.staged_predict_proba(matrix):
                yield proba[:, 1]

    def _raw(self, matrix: np.ndarray) -> np.ndarray:
        """The fitted model's raw scores: P(late) before calibration, the lateness, or both."""
        if getattr(self, "target_", "late") == "stack":
            return np.column_stack(
                [self.booster_.predict_proba(matrix)[:, 1], self.partner_.predict(matrix)]
            )
        if self._regression():
            return self.booster_.predict(matrix)
        return self.booster_.predict_proba(matrix)[:, 1]

    def _score_input(self, raw: np.ndarray) -> np.ndarray:
        """What the Platt map reads: the log-odds of a probability, a lateness as it is."""
        if raw.ndim == 2:  # stacked: (P(late), lateness)
            return np.column_stack([_logit(raw[:, 0]), raw[:, 1]])
        return raw.reshape(-1, 1) if self._regression() else _logit(raw)

    def _fit_edges(self, matrix: np.ndarray) -> dict[int, np.ndarray]:
        """Quantile bin edges of the numeric columns with many distinct values.

        The booster bins every feature into at most 255 bins anyway; doing it here, unweighted,
        keeps its weighted-quantile binning (very slow with sample weights) out of the way.
        """
        rng = np.random.default_rng(0)
        sample = matrix[rng.choice(len(matrix), min(len(matrix), 200_000), replace=False)]
        edges = {}
        for j, name in enumerate(self._columns()):
            if name in CATEGORICAL:
                continue
            values = sample[:, j][~np.isnan(sample[:, j])]
            if len(np.unique(values)) > 250:
                edges[j] = np.unique(np.quantile(values, np.linspace(0, 1, 251)[1:-1]))
        return edges

    def _quantize(self, matrix: np.ndarray) -> np.ndarray:
        matrix[:, self.empty_] = 0.0
        for j, edges in self.edges_.items():
            column = matrix[:, j]
            missing = np.isnan(column)
            matrix[:, j] = np.where(missing, np.nan, np.searchsorted(edges, column, side="left"))
        return matrix

    def _fit_calibrator(self, raw: np.ndarray, y: np.ndarray):
        if self.calibration == "isotonic":
            return IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(raw, y)
        return self._platt(raw, y)

    def _platt(self, raw: np.ndarray, y: np.ndarray) -> LogisticRegression:
        """Platt's map of raw scores (one column, or the stack's two) to P(late)."""
        return _platt(self._score_input(raw), y)

    def _calibrate(self, raw: np.ndarray) -> np.ndarray:
        if self.calibrator_ is None:
            return raw
        if isinstance(self.calibrator_, IsotonicRegression):
            return self.calibrator_.predict(raw)
        return self.calibrator_.predict_proba(self._score_input(raw))[:, 1]

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """Columns P(on time), P(late)."""
        if not hasattr(self, "booster_"):
            raise NotFittedError("RiskModel is not fitted; call fit first")
        late = np.empty(len(X))
        with self._threads():
            for model, rows in self.routes(X):
                late[rows] = model._proba(X if len(rows) == len(X) else X.iloc[rows])
        return np.column_stack([1 - late, late])

    def routes(self, X: pd.DataFrame) -> list[tuple[RiskModel, np.ndarray]]:
        """Which model scores which rows of `X`: (model, positions) for the full model and for
        the fallback (rows of orders without any optional field), parts without rows left out."""
        fallback = getattr(self, "fallback_", None)  # absent from a model saved before it
        if fallback is None or not len(X):
            return [(self, np.arange(len(X)))]
        bare = bare_rows(X)
        return [(m, np.flatnonzero(b)) for m, b in ((self, ~bare), (fallback, bare)) if b.any()]

    def _proba(self, X: pd.DataFrame) -> np.ndarray:
        columns = tuple(getattr(self, "feature_names_in_", FEATURES))
        matrix = self._quantize(encode_features(X, self.levels_, columns))
        return self._calibrate(self._raw(matrix))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        return (self.predict_proba(X)[:, 1] >= 0.5).astype(int)
