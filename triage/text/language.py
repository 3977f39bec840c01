"""Cheap, deterministic language detection for case texts: zh, en or mixed."""

from __future__ import annotations

import re

__all__ = ["LANGUAGES", "detect_language", "reply_language"]

LANGUAGES = ("zh", "en", "mixed")

_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[A-Za-z\uff21-\uff3a\uff41-\uff5a]{2,}")


def detect_language(text: str) -> str:
    """Return ``zh``, ``en`` or ``mixed``.

    A text with Chinese characters and no Latin word is ``zh``; with Latin words and no Chinese
    character ``en``; with both ``mixed`` (an ASIN, "refund" or "tracking" inside Chinese text is
    exactly the code-switching this label is for). A text with neither (digits, emoji, empty) is
    reported as ``en``, the fallback language of replies.
    """
    han = len(_HAN.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han and latin:
        return "mixed"
    if han:
        return "zh"
    return "en"


def reply_language(language: str) -> str:
    """The language to answer a filer in: Chinese for ``zh`` and ``mixed``, else English."""
    return "zh" if language in ("zh", "mixed") else "en"
