"""`CaseClassifier`: the case router, a scikit-learn estimator.

TF-IDF features of words (jieba for Chinese) and character n-grams feed a linear model. Its
scores become probabilities by temperature scaling fitted on out-of-fold scores, and the same
out-of-fold predictions choose a confidence threshold per class for the target precision: below
its class threshold a prediction needs human review.

With ``embeddings="all-MiniLM-L6-v2"`` (the optional ``[embeddings]`` extra, off by default) frozen
sentence embeddings of the raw texts join the TF-IDF columns of the same feature matrix, so that
calibration, thresholds and the router work unchanged; explanations use the TF-IDF terms only.

    >>> clf = CaseClassifier().fit(texts, labels)            # doctest: +SKIP
    >>> clf.predict_proba(["包裹一直没到"])                    # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.exceptions import NotFittedError as _SkNotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold
from sklearn.svm import LinearSVC
from sklearn.utils.validation import check_is_fitted as _sk_check_is_fitted

from triage.cases.calibration import (
    choose_thresholds,
    expected_calibration_error,
    fit_temperature,
    scores_to_proba,
)
from triage.cases.embeddings import SentenceEmbedder, check_embedding_model
from triage.cases.features import build_features, transform_features
from triage.errors import InputError, NotFittedError
from triage.text.tokenize import JiebaTokenizer

__all__ = ["CaseClassifier", "validate_training_data"]

_PLACEHOLDERS = {
    "ordernum": "<order_id>",
    "asincode": "<asin>",
    "trackingnum": "<tracking_number>",
    "dateval": "<date>",
    "moneyval": "<money>",
    "emailaddr": "<email>",
    "phonenum": "<phone>",
}


def validate_training_data(texts: Sequence, labels: Sequence, min_per_class: int = 2) -> None:
    """Raise `InputError` unless texts and labels can train a classifier."""
    if len(texts) != len(labels):
        raise InputError(f"{len(texts)} texts but {len(labels)} labels")
    bad = [i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()]
    if bad:
        raise InputError(f"{len(bad)} empty or non-text values (first at row {bad[0]})")
    missing = [
        i for i, y in enumerate(labels) if y is None or (isinstance(y, float) and np.isnan(y))
    ]
    if missing:
        raise InputError(f"{len(missing)} rows without a label (first at row {missing[0]})")
    classes, counts = np.unique(np.asarray(labels, dtype=str), return_counts=True)
    if len(classes) < 2:
        raise InputError(f"need at least two classes to train, found {len(classes)}")
    small = [f"{c} ({n})" for c, n in zip(classes, counts, strict=True) if n < min_per_class]
    if small:
        raise InputError(
            f"every class needs at least {min_per_class} examples; too few: {', '.join(small)}"
        )


class CaseClassifier(ClassifierMixin, BaseEstimator):
    """Bilingual case classifier with calibrated probabilities and review thresholds.

    Parameters
    ----------
    C : regularization strength of the linear model (smaller is stronger).
    model : ``"svm"`` (LinearSVC) or ``"logreg"`` (multinomial logistic regression).
    word_ngrams, char_ngrams : n-gram ranges of the word and character TF-IDF features.
    char_min_df : minimum document frequency of a character n-gram.
    cv : folds of the out-of-fold predictions used for calibration and thresholds.
    target_precision : precision each class threshold must hold on out-of-fold predictions.
    random_state : seed of the fold assignment and of the linear model.
    tokenizer : the `JiebaTokenizer` (its user dictionary and cache directory); a default one
        when None.
    embeddings : name of a packaged sentence encoder (see `triage.cases.embeddings`) whose
        embeddings are added to the features, or None (the default: TF-IDF only, no torch).
    embedding_weight : scale of the unit-length embeddings beside the TF-IDF features (2.0 was
        best in cross-validation on Banking77's training data).
    """

    def __init__(
        self,
        *,
        C: float = 0.5,
        model: str = "svm",
        word_ngrams: tuple[int, int] = (1, 2),
        char_ngrams: tuple[int, int] = (1, 3),
        char_min_df: int = 1,
        cv: int = 5,
        target_precision: float = 0.9,
        random_state: int = 0,
        tokenizer: JiebaTokenizer | None = None,
        embeddings: str | None = None,
        embedding_weight: float = 2.0,
    ):
        self.C = C
        self.model = model
        self.word_ngrams = word_ngrams
        self.char_ngrams = char_ngrams
        self.char_min_df = char_min_df
        self.cv = cv
        self.target_precision = target_precision
        self.random_state = random_state
        self.tokenizer = tokenizer
        self.embeddings = embeddings
        self.embedding_weight = embedding_weight

    # -- fitting -------------------------------------------------------------------------
    def _linear(self):
        if self.model == "svm":
            return LinearSVC(C=self.C, random_state=self.random_state)
        if self.model == "logreg":
            return LogisticRegression(C=self.C, max_iter=2000, random_state=self.random_state)
        raise InputError(f"model must be 'svm' or 'logreg', not {self.model!r}")

    def fit(
        self,
        X: Sequence[str],
        y: Sequence,
        progress: Callable[[str], None] | None = None,
    ) -> CaseClassifier:
        """Fit features, out-of-fold calibration and thresholds, then the final linear model.

        `progress`, when given, is called with a short message before each step.
        """
        texts = list(X)
        labels = np.asarray([str(v) for v in y]) if len(y) else np.asarray([], dtype=str)
        validate_training_data(texts, list(y))
        if not 0.0 < self.target_precision <= 1.0:
            raise InputError("target_precision must be in (0, 1]")
        check_embedding_model(self.embeddings)
        if not self.embedding_weight > 0:
            raise InputError("embedding_weight must be positive")
        step = progress or (lambda message: None)

        self.classes_, y_index = np.unique(labels, return_inverse=True)
        step("features")
        # The vectorizers learn vocabulary and IDF from the texts alone (no labels), once;
        # only the supervised part is refitted per fold.
        self.features_ = build_features(
            tokenizer=self.tokenizer,
            word_ngrams=tuple(self.word_ngrams),
            char_ngrams=tuple(self.char_ngrams),
            char_min_df=self.char_min_df,
        )
        matrix = self.features_.fit_transform(texts)
        self.n_text_features_ = matrix.shape[1]
        self.embedder_ = None
        if self.embeddings is not None:
            step("embeddings")
            # frozen encoder: nothing is learned from the labels, so one pass serves every fold
            self.embedder_ = SentenceEmbedder(self.embeddings, weight=self.embedding_weight)
            dense = self.embedder_.fit(texts).transform(texts)
            matrix = sp.hstack([matrix, sp.csr_matrix(dense)], format="csr")

        folds = min(self.cv, int(np.bincount(y_index).min()))
        oof = np.zeros((len(texts), len(self.classes_)))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        for k, (train, test) in enumerate(splitter.split(matrix, y_index), 1):
            step(f"fold {k}/{folds}")
            linear = clone(self._linear()).fit(matrix[train], y_index[train])
            oof[test] = self._scores(linear, matrix[test], len(self.classes_), linear.classes_)

        step("calibration")
        self.temperature_ = fit_temperature(oof, y_index)
        proba = scores_to_proba(oof, self.temperature_)
        # kept for reports: honest estimates on data each fold's model did not train on
        self.oof_proba_ = proba.astype(np.float32)
        self.thresholds_ = choose_thresholds(proba, y_index, self.target_precision)
        confidence, predicted = proba.max(axis=1), proba.argmax(axis=1)
        passes = confidence >= self.thresholds_[predicted]
        self.cv_metrics_ = {
            "folds": folds,
            "accuracy": float((predicted == y_index).mean()),
            "ece": expected_calibration_error(confidence, predicted == y_index),
            "coverage_at_precision": float(passes.mean()),
            "precision_when_covered": float((predicted == y_index)[passes].mean())
            if passes.any()
            else float("nan"),
        }
        step("final model")
        self.linear_ = self._linear().fit(matrix, y_index)
        self.n_features_ = matrix.shape[1]
        return self

    @staticmethod
    def _scores(linear, matrix, n_classes: int, seen: np.ndarray) -> np.ndarray:
        # the linear decision function itself: scikit-learn's wrapper validates its input
        # again on every call, which costs more than the product for one text
        raw = np.asarray(matrix @ linear.coef_.T) + linear.intercept_
        if raw.shape[1] == 1:  # binary problems give one margin column
            raw = np.column_stack([-raw[:, 0], raw[:, 0]])
        if len(seen) == n_classes:
            return raw
        # a fold that missed a class: give that class a score far below the others
        full = np.full((raw.shape[0], n_classes), raw.min() - 10.0)
        full[:, seen] = raw
        return full

    # -- prediction ----------------------------------------------------------------------
    def _check_fitted(self) -> None:
        try:
            _sk_check_is_fitted(self, ["linear_", "temperature_", "thresholds_"])
        except _SkNotFittedError as exc:
            raise NotFittedError(str(exc)) from None

    def transform(self, X: Sequence[str]):
        """The sparse feature matrix of texts `X` (one row per text)."""
        self._check_fitted()
        texts = [X] if isinstance(X, str) else list(X)
        matrix = transform_features(self.features_, texts)
        embedder = getattr(self, "embedder_", None)
        if embedder is None:
            return matrix
        return sp.hstack([matrix, sp.csr_matrix(embedder.transform(texts))], format="csr")

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        return self.scores_from_matrix(self.transform(X))

    def scores_from_matrix(self, matrix) -> np.ndarray:
        """Raw linear scores of an already transformed matrix."""
        return self._scores(self.linear_, matrix, len(self.classes_), self.linear_.classes_)

    def proba_from_matrix(self, matrix) -> np.ndarray:
        """Calibrated probabilities of an already transformed matrix."""
        return scores_to_proba(self.scores_from_matrix(matrix), self.temperature_)

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in the order of `classes_`."""
        return scores_to_proba(self.decision_function(X), self.temperature_)

    def predict(self, X: Sequence[str]) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def needs_review(self, proba: np.ndarray) -> np.ndarray:
        """True where the top probability is below its class threshold."""
        self._check_fitted()
        return proba.max(axis=1) < self.thresholds_[proba.argmax(axis=1)]

    # -- explanation ---------------------------------------------------------------------
    def _feature_names(self) -> np.ndarray:
        names = getattr(self, "_names_cache", None)
        if names is None:
            names = self.features_.named_steps["union"].get_feature_names_out()
            self._names_cache = names
        return names

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("_names_cache", None)
        return state

    def explain(self, text: str, class_index: int, top: int = 6) -> list[dict]:
        """The terms of `text` that pushed its score for class `class_index` up the most."""
        return self.explain_row(self.transform([text]), class_index, top)

    def explain_row(self, row, class_index: int, top: int = 6) -> list[dict]:
        """Like `explain`, for a one-row matrix already transformed.

        Contribution of a term = its TF-IDF weight × the model's weight for that class; a term
        already covered by a stronger, longer term (a character n-gram inside a word) is skipped.
        Embedding columns, when the model has them, name no term and are left out.
        """
        self._check_fitted()
        row = row.tocsr()
        names = self._feature_names()
        keep = row.indices < len(names)
        indices, data = row.indices[keep], row.data[keep]
        coef = self.linear_.coef_
        weights = (
            coef[0] * (1 if class_index == 1 else -1) if coef.shape[0] == 1 else coef[class_index]
        )
        contributions = data * weights[indices]
        terms: list[dict] = []
        for j in np.argsort(-contributions):
            if contributions[j] <= 0 or len(terms) >= top:
                break
            term = names[indices[j]].split("__", 1)[-1].strip()
            term = " ".join(_PLACEHOLDERS.get(w, w) for w in term.split())
            if len(term) < 2 and not ("\u4e00" <= term[:1] <= "\u9fff"):
                continue
            if any(term in t["term"] for t in terms):
                continue
            terms.append({"term": term, "weight": round(float(contributions[j]), 4)})
        return terms
