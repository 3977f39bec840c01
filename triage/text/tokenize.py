"""Tokenization of normalized case texts: jieba words for Chinese, plain words for Latin text.

jieba is reached only through `JiebaTokenizer`: a private ``jieba.Tokenizer`` built lazily behind
a lock on first use (about a second to load its dictionary), quiet, with its cache in a
configurable directory and the domain user dictionary of data/userdict.txt loaded. Only its
settings are pickled, so estimators holding it can be saved with joblib and cloned.
"""

from __future__ import annotations

import logging
import os
import tempfile
import threading
from pathlib import Path

__all__ = ["JiebaTokenizer", "WordAnalyzer", "default_cache_dir", "default_user_dict"]


def default_user_dict() -> Path:
    """data/userdict.txt of this checkout: marketplace terms jieba should keep whole."""
    return Path(__file__).resolve().parents[2] / "data" / "userdict.txt"


def default_cache_dir() -> Path:
    """Where the project caches what it can rebuild: TRIAGE_CACHE_DIR, else
    $XDG_CACHE_HOME/case-triage, else ~/.cache/case-triage."""
    base = os.environ.get("TRIAGE_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    return root / "case-triage" if not os.environ.get("TRIAGE_CACHE_DIR") else root


class JiebaTokenizer:
    """A private, lazily built jieba tokenizer that pickles as its settings only.

    >>> tok = JiebaTokenizer()
    >>> tok.cut("亚马逊开case问物流")
    ['亚马逊', '开case', '问', '物流']
    """

    def __init__(
        self,
        user_dict: str | Path | None = None,
        cache_dir: str | Path | None = None,
        hmm: bool = True,
    ) -> None:
        self.user_dict = str(user_dict) if user_dict is not None else None
        self.cache_dir = str(cache_dir) if cache_dir is not None else None
        self.hmm = hmm
        self._lock = threading.Lock()
        self._tokenizer = None

    def __getstate__(self) -> dict:
        return {"user_dict": self.user_dict, "cache_dir": self.cache_dir, "hmm": self.hmm}

    def __setstate__(self, state: dict) -> None:
        self.__init__(**state)

    def __repr__(self) -> str:
        return f"JiebaTokenizer(user_dict={self.user_dict!r}, cache_dir={self.cache_dir!r})"

    def _build(self):
        import jieba

        logging.getLogger("jieba").setLevel(logging.WARNING)
        tokenizer = jieba.Tokenizer()
        cache_dir = Path(self.cache_dir) if self.cache_dir else default_cache_dir()
        try:
            cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError:
            cache_dir = Path(tempfile.gettempdir())
        tokenizer.tmp_dir = str(cache_dir)
        tokenizer.cache_file = "jieba.cache"
        tokenizer.initialize()
        user_dict = Path(self.user_dict) if self.user_dict else default_user_dict()
        if user_dict.is_file():
            tokenizer.load_userdict(str(user_dict))
        return tokenizer

    def warm(self) -> JiebaTokenizer:
        """Build the tokenizer now instead of on the first `cut`."""
        if self._tokenizer is None:
            with self._lock:
                if self._tokenizer is None:
                    self._tokenizer = self._build()
        return self

    def cut(self, text: str) -> list[str]:
        """Segment `text` into words; spaces and punctuation are dropped.

        jieba sees Han and Latin text together so that user-dictionary words such as 开case or
        a-to-z stay whole; English words come out as jieba splits them, at spaces and symbols.
        """
        tokenizer = self.warm()._tokenizer
        return [w for w in tokenizer.cut(text, HMM=self.hmm) if any(ch.isalnum() for ch in w)]


class WordAnalyzer:
    """Callable analyzer for `TfidfVectorizer`: word unigrams and bigrams of a normalized text.

    Picklable: it holds a `JiebaTokenizer`, which pickles as its settings.
    """

    def __init__(
        self, tokenizer: JiebaTokenizer | None = None, ngram_range: tuple[int, int] = (1, 2)
    ):
        self.tokenizer = tokenizer if tokenizer is not None else JiebaTokenizer()
        self.ngram_range = ngram_range

    def __call__(self, text: str) -> list[str]:
        words = self.tokenizer.cut(text)
        low, high = self.ngram_range
        grams = list(words) if low == 1 else []
        for n in range(max(2, low), high + 1):
            grams.extend(" ".join(words[i : i + n]) for i in range(len(words) - n + 1))
        return grams

    def __repr__(self) -> str:
        return f"WordAnalyzer(ngram_range={self.ngram_range})"
