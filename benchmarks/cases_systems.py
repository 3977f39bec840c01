"""The systems compared by the case-classifier benchmarks, behind one small interface.

- ours: `triage.cases.CaseClassifier` with its defaults (training includes the 5-fold
  out-of-fold calibration and thresholds, so it fits the linear model six times).
- ours, default: what `triage train cases` trains without options (`default_params()`: the
  multilingual-e5-small encoder beside TF-IDF, served as a cascade).
- ours + embeddings: the same with ``embeddings="all-MiniLM-L6-v2"`` (the [embeddings] extra).
- plain TF-IDF + LinearSVC: scikit-learn only, word 1-2 grams and char_wb 1-4 grams, C=1.
- fastText: supervised fastText (the [bench] extra) on the project's normalized, jieba-segmented
  tokens. Its Python `predict` breaks on numpy 2, so the bound `model.f.predict` is called.
"""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.pipeline import FeatureUnion, Pipeline
from sklearn.svm import LinearSVC

__all__ = ["SYSTEMS", "System", "fasttext_available"]


class System:
    """A text classifier under benchmark: `fit`, batch `predict`, and `predict_one`."""

    name = "?"

    def fit(self, texts: Sequence[str], labels: Sequence[str]) -> System:
        raise NotImplementedError

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def predict_one(self, text: str) -> str:
        """The label of one text: the call whose latency is measured."""
        return str(self.predict([text])[0])


class Ours(System):
    name = "ours (CaseClassifier)"

    def __init__(self, seed: int = 0, **params):
        self.seed = seed
        self.params = params

    def fit(self, texts, labels):
        from triage.cases.model import CaseClassifier

        self.model = CaseClassifier(random_state=self.seed, **self.params).fit(texts, labels)
        return self

    def predict(self, texts):
        return self.model.predict(list(texts))


class OursEmbeddings(Ours):
    name = "ours + embeddings (MiniLM)"

    def __init__(self, seed: int = 0):
        super().__init__(seed, embeddings="all-MiniLM-L6-v2")


class OursDefault(Ours):
    """What `triage train cases` trains without options: the default parameters, sentence
    encoder (multilingual-e5-small where AVX2 is present) and cascade included."""

    name = "ours, default of triage train cases (TF-IDF + e5 cascade)"

    def __init__(self, seed: int = 0):
        from triage.cases.training import default_params

        super().__init__(seed, **default_params())


class PlainTfidfSvm(System):
    name = "plain TF-IDF + LinearSVC"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def fit(self, texts, labels):
        union = FeatureUnion(
            [
                ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                (
                    "chars",
                    TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 4), sublinear_tf=True),
                ),
            ]
        )
        self.model = Pipeline([("tfidf", union), ("svm", LinearSVC(C=1.0, random_state=self.seed))])
        self.model.fit(list(texts), list(labels))
        return self

    def predict(self, texts):
        return self.model.predict(list(texts))


def fasttext_available() -> bool:
    try:
        import fasttext  # noqa: F401
    except ImportError:
        return False
    return True


class FastText(System):
    """fastText supervised: 100-d, 50 epochs, lr 0.25, word bigrams, char 2-4 subwords."""

    name = "fastText supervised"

    def __init__(self, seed: int = 0, threads: int = 2):
        self.seed = seed
        self.threads = threads

    def _tokens(self, text: str) -> str:
        from triage.text.normalize import normalize

        return " ".join(self._tokenizer.cut(normalize(text)))

    def fit(self, texts, labels):
        import fasttext

        from triage.text.tokenize import JiebaTokenizer

        self._tokenizer = JiebaTokenizer().warm()
        self._labels = {f"__label__{i}": label for i, label in enumerate(sorted(set(labels)))}
        index = {label: key for key, label in self._labels.items()}
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "train.txt"
            with path.open("w", encoding="utf-8") as handle:
                for text, label in zip(texts, labels, strict=True):
                    handle.write(f"{index[label]} {self._tokens(text)}\n")
            self.model = fasttext.train_supervised(
                input=str(path),
                dim=100,
                epoch=50,
                lr=0.25,
                wordNgrams=2,
                minn=2,
                maxn=4,
                loss="softmax",
                thread=self.threads,
                seed=self.seed,
                verbose=0,
            )
        return self

    def predict_one(self, text):
        # fastText's own `predict` fails under numpy 2 (np.array(copy=False)): use the binding
        (_, label), *_ = self.model.f.predict(self._tokens(text) + "\n", 1, 0.0, "strict")
        return self._labels[label]

    def predict(self, texts):
        return np.asarray([self.predict_one(t) for t in texts])


SYSTEMS = {
    "ours": Ours,
    "ours_default": OursDefault,
    "ours_embeddings": OursEmbeddings,
    "plain": PlainTfidfSvm,
    "fasttext": FastText,
}
