"""Feature extraction for case texts, all of it inside one scikit-learn pipeline.

    raw text ─► CaseTextPreprocessor (normalize, mask entities and digits)
             ─► FeatureUnion(words: jieba + Latin word 1-2 grams, chars: character n-grams)

Because the whole preprocessing is part of the persisted pipeline, training and serving cannot
drift apart. `transform_features` computes the same matrix from the fitted pipeline's own
analyzers, vocabularies and IDF weights, without scikit-learn's per-call validation and joblib
dispatch, which cost more than the features themselves for one short text (about 1 ms of 1.3).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np
import scipy.sparse as sp
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage.text.entities import mask_entities
from triage.text.normalize import normalize
from triage.text.tokenize import JiebaTokenizer, WordAnalyzer

__all__ = ["CaseTextPreprocessor", "build_features", "transform_features"]


class CaseTextPreprocessor(TransformerMixin, BaseEstimator):
    """Normalize texts and replace entities by type placeholders; stateless."""

    def __init__(self, simplified: bool = True, mask: bool = True):
        self.simplified = simplified
        self.mask = mask

    def fit(self, X: Iterable[str], y=None) -> CaseTextPreprocessor:
        return self

    def transform(self, X: Iterable[str]) -> list[str]:
        out = []
        for text in X:
            norm = normalize(text, simplified=self.simplified)
            out.append(mask_entities(norm) if self.mask else norm)
        return out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


def build_features(
    *,
    tokenizer: JiebaTokenizer | None = None,
    word_ngrams: tuple[int, int] = (1, 2),
    char_ngrams: tuple[int, int] = (1, 4),
    char_min_df: int = 1,
    max_features: int | None = None,
) -> Pipeline:
    """The feature pipeline: preprocessing, then word and character TF-IDF side by side."""
    words = TfidfVectorizer(
        analyzer=WordAnalyzer(tokenizer or JiebaTokenizer(), ngram_range=word_ngrams),
        sublinear_tf=True,
        max_features=max_features,
        dtype=np.float32,
    )
    chars = TfidfVectorizer(
        analyzer="char_wb",
        ngram_range=char_ngrams,
        sublinear_tf=True,
        min_df=char_min_df,
        max_features=max_features,
        dtype=np.float32,
    )
    return Pipeline(
        [
            ("preprocess", CaseTextPreprocessor()),
            ("union", FeatureUnion([("words", words), ("chars", chars)])),
        ]
    )


def _tfidf_row(vectorizer: TfidfVectorizer, analyze, doc: str) -> tuple[np.ndarray, np.ndarray]:
    """Column indices and values of `vectorizer.transform([doc])`, computed directly."""
    vocabulary = vectorizer.vocabulary_
    counts = Counter(analyze(doc))
    pairs = sorted((vocabulary[t], n) for t, n in counts.items() if t in vocabulary)
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    cols = np.fromiter((j for j, _ in pairs), dtype=np.int64, count=len(pairs))
    tf = np.fromiter((n for _, n in pairs), dtype=np.float64, count=len(pairs))
    if vectorizer.sublinear_tf:
        tf = 1.0 + np.log(tf)
    if vectorizer.use_idf:
        tf = tf * vectorizer.idf_[cols]
    if vectorizer.norm:
        norm = np.sqrt(np.dot(tf, tf)) if vectorizer.norm == "l2" else np.abs(tf).sum()
        if norm > 0:
            tf = tf / norm
    return cols, tf


def transform_features(features: Pipeline, texts: Sequence[str]) -> sp.csr_matrix:
    """``features.transform(texts)`` of a fitted `build_features` pipeline, without overhead.

    Falls back on the pipeline's own `transform` for a shape it does not know (other steps,
    transformer weights or vectorizer settings), so the result is always the same matrix.
    """
    steps = features.named_steps
    union = steps.get("union")
    known = (
        len(features.steps) == 2
        and isinstance(steps.get("preprocess"), CaseTextPreprocessor)
        and isinstance(union, FeatureUnion)
        and union.transformer_weights is None
        and all(
            isinstance(v, TfidfVectorizer) and v.norm in ("l1", "l2", None) and v.binary is False
            for _, v in union.transformer_list
        )
    )
    if not known:
        return features.transform(list(texts))
    vectorizers = [v for _, v in union.transformer_list]
    analyzers = [v.build_analyzer() for v in vectorizers]
    offsets = np.cumsum([0] + [len(v.vocabulary_) for v in vectorizers])
    indices, values, indptr = [], [], [0]
    for doc in steps["preprocess"].transform(texts):
        for vectorizer, analyze, offset in zip(vectorizers, analyzers, offsets, strict=False):
            cols, tf = _tfidf_row(vectorizer, analyze, doc)
            indices.append(cols + offset)
            values.append(tf)
        indptr.append(indptr[-1] + sum(len(c) for c in indices[-len(vectorizers) :]))
    dtype = np.result_type(*(v.dtype for v in vectorizers))
    return sp.csr_matrix(
        (
            np.concatenate(values).astype(dtype) if values else np.zeros(0, dtype),
            np.concatenate(indices) if indices else np.zeros(0, np.int64),
            np.asarray(indptr, dtype=np.int64),
        ),
        shape=(len(indptr) - 1, int(offsets[-1])),
    )
