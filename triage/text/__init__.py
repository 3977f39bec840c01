"""Bilingual text engine: normalization, tokenization, language detection, entities."""

from __future__ import annotations

from triage.text.language import detect_language, reply_language
from triage.text.normalize import normalize

__all__ = ["detect_language", "normalize", "reply_language"]
