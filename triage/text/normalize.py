"""Text normalization shared by training, serving and the corpus checks.

`normalize` is idempotent: normalizing twice gives the same text as normalizing once.
"""

from __future__ import annotations

import re
import threading
import unicodedata

from triage.errors import InputError

__all__ = ["normalize", "to_halfwidth", "to_simplified"]

_WHITESPACE = re.compile(r"\s+")
# Full-width ASCII (U+FF01..U+FF5E) and the ideographic space map one-to-one onto ASCII, so this
# translation keeps every offset: entity spans found on its output index the original text.
_HALFWIDTH = {cp: cp - 0xFEE0 for cp in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}

_converter = None
_converter_lock = threading.Lock()


def to_halfwidth(text: str) -> str:
    """Map full-width ASCII characters and the ideographic space to ASCII, keeping length."""
    return text.translate(_HALFWIDTH)


def to_simplified(text: str) -> str:
    """Convert traditional Chinese characters to simplified ones (OpenCC `t2s`)."""
    global _converter
    if _converter is None:
        with _converter_lock:
            if _converter is None:
                import opencc

                _converter = opencc.OpenCC("t2s")
    return _converter.convert(text)


def _strip_controls(text: str) -> str:
    # Format characters (zero-width spaces, BOM, bidi marks) carry no meaning for routing;
    # control characters, NUL included, become spaces so that words stay apart.
    out = []
    for ch in text:
        cat = unicodedata.category(ch)
        if cat == "Cf":
            continue
        out.append(" " if cat == "Cc" or cat in ("Zl", "Zp") else ch)
    return "".join(out)


def normalize(text: str, *, simplified: bool = True) -> str:
    """Normalize a case text for matching and features.

    NFKC (which also turns full-width letters, digits and punctuation into half-width ones),
    traditional to simplified Chinese when `simplified` is true, case folding of Latin text,
    format characters removed, control characters and runs of whitespace folded to one space.

    >>> normalize("ＡＳＩＮ：B0７XYZ 訂單  還沒到貨！")
    'asin:b07xyz 订单 还没到货!'
    """
    if not isinstance(text, str):
        raise InputError(f"text must be a string, not {type(text).__name__}")
    out = unicodedata.normalize("NFKC", text)
    out = _strip_controls(out)
    if simplified:
        out = to_simplified(out)
    out = unicodedata.normalize("NFKC", out.casefold())
    return _WHITESPACE.sub(" ", out).strip()
