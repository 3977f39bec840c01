"""Tokenization of normalized case texts: jieba words for Chinese, plain words for Latin text.

jieba is reached only through `JiebaTokenizer`: a private tokenizer built lazily behind a lock on
first use, quiet, with the domain user dictionary of data/userdict.txt loaded. Only its settings
are pickled, so estimators holding it can be saved with joblib and cloned.

Two engines give the same words. ``rjieba`` (bindings to jieba-rs, the Rust port) cuts a case
text in about 40 microseconds against jieba's 350 (jieba's pure-Python cut was 60 % of the case
model's time per text); jieba's own ``jieba.Tokenizer`` (about a second to load its dictionary,
cached in a configurable directory) is used where rjieba is not installed, with HMM off, or with
``TRIAGE_TOKENIZER=jieba``. The two differ in one rule only: for a run of ASCII characters
outside the dictionary jieba keeps only letters and digits together ("t.co" -> t, co;
"follow-up" -> follow, up; "3.5%" stays whole), where jieba-rs keeps the run whole;
`_RustJieba` applies jieba's rule, and tests/test_tokenize.py checks that both engines cut every
corpus text into the same words.
"""

from __future__ import annotations

import logging
import os
import re
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


# jieba's own user-dictionary line ("word [freq] [tag]") and its rule for Latin runs in words it
# cut by HMM (jieba.finalseg's re_skip): letters and digits, a decimal part, a percent sign
_USERDICT_LINE = re.compile(r"^(.+?)( [0-9]+)?( [a-z]+)?$")
_LATIN_RUN = re.compile(r"[a-zA-Z0-9]+(?:\.\d+)?%?")


def _rjieba():
    """The rjieba module, or None when it is missing or turned off (TRIAGE_TOKENIZER=jieba)."""
    if os.environ.get("TRIAGE_TOKENIZER", "").strip().lower() == "jieba":
        return None
    try:
        import rjieba
    except ImportError:
        return None
    return rjieba


class _RustJieba:
    """jieba-rs with the user dictionary, cutting as jieba does (see the module docstring)."""

    def __init__(self, rjieba, user_dict: Path):
        self._jieba = rjieba.Jieba()
        self._words: set[str] = set()
        if user_dict.is_file():
            for line in user_dict.read_text(encoding="utf-8").splitlines():
                match = _USERDICT_LINE.match(line.strip().lstrip("\ufeff"))
                if not match:
                    continue
                word, freq, tag = match.groups()
                self._jieba.add_word(word, int(freq) if freq else None, tag.strip() if tag else None)
                self._words.add(word)

    def cut(self, text: str, HMM: bool = True) -> list[str]:  # noqa: N803 - jieba's name
        words: list[str] = []
        for word in self._jieba.cut(text, HMM):
            if word.isascii() and word not in self._words:
                words.extend(_LATIN_RUN.findall(word))
            else:
                words.append(word)
        return words


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
        rjieba = _rjieba() if self.hmm else None
        if rjieba is not None:
            return _RustJieba(
                rjieba, Path(self.user_dict) if self.user_dict else default_user_dict()
            )
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
