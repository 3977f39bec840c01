"""`CaseClassifier`: the case router, a scikit-learn estimator.

TF-IDF features of words (jieba for Chinese) and character n-grams feed a linear model. Its
scores become probabilities by temperature scaling fitted on out-of-fold scores, and the same
out-of-fold predictions choose a confidence threshold per class for the target precision: below
its class threshold a prediction needs human review.

With ``embeddings=`` the name of a packaged sentence encoder (`triage.cases.embeddings`), frozen
sentence embeddings of the raw texts join the TF-IDF columns of the same feature matrix, so that
calibration, thresholds and the router work unchanged; explanations use the TF-IDF terms only.
Such a model also keeps a TF-IDF-only head with its own calibration and thresholds, and serves
as a cascade (`scores`): texts the fast head is sure of (confidence at least
``cascade_confidence``) skip the encoder; the others are encoded and scored by the full head.
When the encoder cannot run (not installed, no AVX2, or turned off with `use_encoder(False)`),
every text takes the fast head: slower models degrade to TF-IDF, never to an error.

The review guard (`needs_review` of `scores`) routes a text automatically only when its
confidence passes its class threshold (chosen on out-of-fold predictions of the training data)
and its class's floor (``min_confidence``: the project's default model takes floors chosen on
real customer texts, where the training data's own folds are too easy), and, for texts that were
encoded, when the text is like
something the model has seen: its embedding's cosine similarity to the nearest training text is
at least ``min_similarity``. A text unlike anything seen goes to review instead of being filed
confidently as ``other``. ``close_call`` marks texts whose top two classes are within
``close_call_margin`` of each other (messages with several problems).

    >>> clf = CaseClassifier().fit(texts, labels)            # doctest: +SKIP
    >>> clf.predict_proba(["包裹一直没到"])                    # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

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
from triage.cases.embeddings import EmbeddingCache, SentenceEmbedder, check_embedding_model
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


@dataclass
class CaseScores:
    """Everything the classifier knows about a batch of texts, row by row.

    ``proba``: calibrated probabilities (columns in the order of ``classes_``); ``matrix``: the
    TF-IDF rows (what explanations read); ``encoded``: rows scored by the full head with the
    sentence encoder; ``similarity``: cosine similarity of an encoded row to the nearest
    training text (NaN where the text was not encoded); ``thresholds``: the confidence each row's
    top class needed to be routed automatically (its head's class threshold or the class's
    floor, whichever is higher); ``needs_review`` and ``close_call``: the guard's flags.
    """

    proba: np.ndarray
    matrix: sp.csr_matrix
    encoded: np.ndarray
    similarity: np.ndarray
    thresholds: np.ndarray
    needs_review: np.ndarray
    close_call: np.ndarray


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
    cascade_confidence : with embeddings, texts whose TF-IDF-only confidence reaches this skip the
        encoder (above 1: every text is encoded).
    min_similarity : with embeddings, an encoded text whose cosine similarity to the nearest
        training text is below this needs review (0: no novelty check).
    min_confidence : no text is routed automatically below this confidence, whatever its class
        threshold: one number for every class, or a mapping from class to its floor (classes it
        does not name get none, names the training labels lack are ignored); 0: the class
        thresholds alone decide.
    close_call_margin : top-two probability gap under which a prediction is a close call.
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
        cascade_confidence: float = 2.0,
        min_similarity: float = 0.0,
        min_confidence: float | Mapping[str, float] = 0.0,
        close_call_margin: float = 0.1,
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
        self.cascade_confidence = cascade_confidence
        self.min_similarity = min_similarity
        self.min_confidence = min_confidence
        self.close_call_margin = close_call_margin

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
        floors = self.min_confidence
        floors = floors.values() if isinstance(floors, Mapping) else [floors]
        if not all(isinstance(f, int | float) and 0.0 <= f <= 1.0 for f in floors):
            raise InputError("min_confidence must be a number in [0, 1] or a mapping of them")
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
        text_matrix = self.features_.fit_transform(texts)
        self.n_text_features_ = text_matrix.shape[1]
        self.embedder_ = None
        self.reference_ = None
        matrix = text_matrix
        if self.embeddings is not None:
            step("embeddings")
            # frozen encoder: nothing is learned from the labels, so one pass serves every fold
            self.embedder_ = SentenceEmbedder(self.embeddings, weight=self.embedding_weight)
            # texts encoded by an earlier training come from the on-disk cache
            dense = EmbeddingCache().transform(self.embedder_.fit(texts), texts)
            matrix = sp.hstack([text_matrix, sp.csr_matrix(dense)], format="csr")
            # the training texts' unit embeddings: novelty is the distance to the nearest one
            self.reference_ = (dense / np.float32(self.embedding_weight)).astype(np.float16)

        folds = min(self.cv, int(np.bincount(y_index).min()))
        splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=self.random_state)
        splits = list(splitter.split(matrix, y_index))
        oof = self._out_of_fold(matrix, y_index, splits, step, "")
        if self.embedder_ is not None:
            fast_oof = self._out_of_fold(text_matrix, y_index, splits, step, "TF-IDF head ")

        step("calibration")
        self.temperature_ = fit_temperature(oof, y_index)
        proba = scores_to_proba(oof, self.temperature_)
        # kept for reports: honest estimates on data each fold's model did not train on
        self.oof_proba_ = proba.astype(np.float32)
        self.thresholds_ = choose_thresholds(proba, y_index, self.target_precision)
        confidence, predicted = proba.max(axis=1), proba.argmax(axis=1)
        passes = confidence >= np.maximum(self.thresholds_, self._floors())[predicted]
        self.cv_metrics_ = {
            "folds": folds,
            "accuracy": float((predicted == y_index).mean()),
            "ece": expected_calibration_error(confidence, predicted == y_index),
            "coverage_at_precision": float(passes.mean()),
            "precision_when_covered": float((predicted == y_index)[passes].mean())
            if passes.any()
            else float("nan"),
        }
        self.fast_linear_ = None
        if self.embedder_ is not None:
            self.fast_temperature_ = fit_temperature(fast_oof, y_index)
            fast_proba = scores_to_proba(fast_oof, self.fast_temperature_)
            self.fast_thresholds_ = choose_thresholds(fast_proba, y_index, self.target_precision)
            self.cv_metrics_["fast_head_accuracy"] = float(
                (fast_proba.argmax(axis=1) == y_index).mean()
            )
            self.cv_metrics_["cascade_share_encoded"] = float(
                (fast_proba.max(axis=1) < self.cascade_confidence).mean()
            )
        step("final model")
        self.linear_ = self._linear().fit(matrix, y_index)
        if self.embedder_ is not None:
            self.fast_linear_ = self._linear().fit(text_matrix, y_index)
        self.n_features_ = matrix.shape[1]
        return self

    def _out_of_fold(self, matrix, y_index, splits, step, label: str) -> np.ndarray:
        oof = np.zeros((matrix.shape[0], len(self.classes_)))
        for k, (train, test) in enumerate(splits, 1):
            step(f"{label}fold {k}/{len(splits)}")
            linear = clone(self._linear()).fit(matrix[train], y_index[train])
            oof[test] = self._scores(linear, matrix[test], len(self.classes_), linear.classes_)
        return oof

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

    def use_encoder(self, enabled: bool) -> CaseClassifier:
        """Turn the sentence encoder on or off for predictions (runtime state, never saved)."""
        self.__dict__["_encoder_off"] = not enabled
        return self

    @contextlib.contextmanager
    def cached_embeddings(self, cache: EmbeddingCache | None = None) -> Iterator[CaseClassifier]:
        """Within the block, predictions take their sentence embeddings from the on-disk
        `EmbeddingCache` (encoding and storing the texts it lacks), as training already does.

        For training jobs, which score the same held-out texts several times (the evaluation,
        the order-aware part's fit, the champion's evaluation): each is encoded once per machine
        instead of once per scoring. Runtime state, never saved; not for the service, whose texts
        are new."""
        self.__dict__["_embedding_cache"] = cache or EmbeddingCache()
        try:
            yield self
        finally:
            self.__dict__.pop("_embedding_cache", None)

    def _embed(self, texts: list[str]) -> np.ndarray:
        cache = self.__dict__.get("_embedding_cache")
        if cache is None:
            return self.embedder_.transform(texts)
        return cache.transform(self.embedder_, texts)

    @property
    def encoder_active(self) -> bool:
        """True when predictions can use the sentence encoder: the model has one, it is not
        turned off, and it can run on this machine."""
        embedder = getattr(self, "embedder_", None)
        return (
            embedder is not None
            and getattr(self, "fast_linear_", None) is not None
            and not self.__dict__.get("_encoder_off", False)
            and embedder.available
        )

    def transform(self, X: Sequence[str]):
        """The full sparse feature matrix of texts `X` (one row per text, encoder included)."""
        self._check_fitted()
        texts = [X] if isinstance(X, str) else list(X)
        matrix = transform_features(self.features_, texts)
        embedder = getattr(self, "embedder_", None)
        if embedder is None:
            return matrix
        return sp.hstack([matrix, sp.csr_matrix(self._embed(texts))], format="csr")

    def decision_function(self, X: Sequence[str]) -> np.ndarray:
        return self.scores_from_matrix(self.transform(X))

    def scores_from_matrix(self, matrix) -> np.ndarray:
        """Raw linear scores of an already transformed (full) matrix."""
        return self._scores(self.linear_, matrix, len(self.classes_), self.linear_.classes_)

    def proba_from_matrix(self, matrix) -> np.ndarray:
        """Calibrated probabilities of an already transformed (full) matrix."""
        return scores_to_proba(self.scores_from_matrix(matrix), self.temperature_)

    def _similarity(self, dense: np.ndarray) -> np.ndarray:
        reference = self.__dict__.get("_reference32")
        if reference is None:
            reference = np.ascontiguousarray(self.reference_, dtype=np.float32)
            self.__dict__["_reference32"] = reference
        unit = dense / np.float32(self.embedder_.weight)
        return (unit @ reference.T).max(axis=1)

    def scores(self, X: Sequence[str]) -> CaseScores:
        """Probabilities and review flags of texts `X` through the cascade (see the module)."""
        self._check_fitted()
        texts = [X] if isinstance(X, str) else list(X)
        tfidf = transform_features(self.features_, texts)
        n = len(texts)
        encoded = np.zeros(n, dtype=bool)
        similarity = np.full(n, np.nan)
        fast = getattr(self, "fast_linear_", None)
        if fast is None:  # a TF-IDF-only model: its one head is the whole model
            proba = self.proba_from_matrix(tfidf)
            thresholds = self.thresholds_[proba.argmax(axis=1)]
        else:
            raw = self._scores(fast, tfidf, len(self.classes_), fast.classes_)
            proba = scores_to_proba(raw, self.fast_temperature_)
            thresholds = self.fast_thresholds_[proba.argmax(axis=1)]
            if self.encoder_active:
                encoded = proba.max(axis=1) < self.cascade_confidence
                rows = np.flatnonzero(encoded)
                if len(rows):
                    dense = self._embed([texts[i] for i in rows])
                    full = sp.hstack([tfidf[rows], sp.csr_matrix(dense)], format="csr")
                    proba[rows] = self.proba_from_matrix(full)
                    thresholds[rows] = self.thresholds_[proba[rows].argmax(axis=1)]
                    similarity[rows] = self._similarity(dense)
        confidence = proba.max(axis=1)
        thresholds = np.maximum(thresholds, self._floors()[proba.argmax(axis=1)])
        needs_review = confidence < thresholds
        with np.errstate(invalid="ignore"):
            needs_review |= encoded & (similarity < self.min_similarity)
        if proba.shape[1] > 1:
            top_two = np.sort(proba, axis=1)[:, -2:]
            close_call = (top_two[:, 1] - top_two[:, 0]) < self.close_call_margin
        else:
            close_call = np.zeros(n, dtype=bool)
        return CaseScores(
            proba=proba,
            matrix=tfidf,
            encoded=encoded,
            similarity=similarity,
            thresholds=thresholds,
            needs_review=needs_review,
            close_call=close_call,
        )

    def predict_proba(self, X: Sequence[str]) -> np.ndarray:
        """Calibrated class probabilities, columns in the order of `classes_`."""
        return self.scores(X).proba

    def predict(self, X: Sequence[str]) -> np.ndarray:
        proba = self.predict_proba(X)
        return self.classes_[proba.argmax(axis=1)]

    def needs_review(self, proba: np.ndarray) -> np.ndarray:
        """True where the top probability is below its class threshold (full head's) or its
        floor (`min_confidence`)."""
        return proba.max(axis=1) < self.review_thresholds(proba)

    def review_thresholds(self, proba: np.ndarray, encoded: np.ndarray | None = None) -> np.ndarray:
        """Per row, the confidence its top class needs to be routed without review: the class
        threshold of the head that scored the row (the full head where `encoded`, the TF-IDF
        head of the cascade elsewhere; the full head's when `encoded` is None), or the class's
        floor (`min_confidence`) when higher."""
        self._check_fitted()
        best = np.asarray(proba).argmax(axis=1)
        chosen = self.thresholds_[best]
        fast = getattr(self, "fast_thresholds_", None)
        if encoded is not None and fast is not None:
            chosen = np.where(np.asarray(encoded, dtype=bool), chosen, fast[best])
        return np.maximum(chosen, self._floors()[best])

    def _floors(self) -> np.ndarray:
        """`min_confidence` as one floor per class, in the order of `classes_`."""
        floor = self.min_confidence
        if isinstance(floor, Mapping):
            return np.array([float(floor.get(str(c), 0.0)) for c in self.classes_])
        return np.full(len(self.classes_), float(floor))

    # -- explanation ---------------------------------------------------------------------
    def _feature_names(self) -> np.ndarray:
        names = getattr(self, "_names_cache", None)
        if names is None:
            names = self.features_.named_steps["union"].get_feature_names_out()
            self._names_cache = names
        return names

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for runtime in ("_names_cache", "_reference32", "_encoder_off", "_embedding_cache"):
            state.pop(runtime, None)
        return state

    def __setstate__(self, state: dict) -> None:
        # models saved before the cascade and the guard's settings existed load with their
        # behaviour unchanged: no fast head, no novelty check, thresholds alone
        defaults = {
            "cascade_confidence": 2.0,
            "min_similarity": 0.0,
            "min_confidence": 0.0,
            "close_call_margin": 0.1,
            "fast_linear_": None,
            "reference_": None,
        }
        super().__setstate__({**defaults, **state})

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
