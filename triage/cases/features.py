"""Feature extraction for case texts, all of it inside one scikit-learn pipeline.

    raw text ─► CaseTextPreprocessor (normalize, mask entities and digits)
             ─► FeatureUnion(words: jieba + Latin word 1-2 grams, chars: character n-grams)

Because the whole preprocessing is part of the persisted pipeline, training and serving cannot
drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline

from triage.text.entities import mask_entities
from triage.text.normalize import normalize
from triage.text.tokenize import JiebaTokenizer, WordAnalyzer

__all__ = ["CaseTextPreprocessor", "build_features"]


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
