"""Entities in case texts: order ids, ASINs, tracking numbers, dates, amounts, emails, phones.

Extraction is rule-based and deterministic. Offsets index the text as given (full-width ASCII is
matched through a length-preserving translation), so ``text[e.start:e.end] == e.text`` always.
Emails and phone numbers are personal data: `redact` removes them from anything that is logged.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass

from triage.text.normalize import to_halfwidth

__all__ = ["ENTITY_TYPES", "Entity", "extract_entities", "mask_entities", "redact"]

ENTITY_TYPES = ("email", "order_id", "tracking_number", "asin", "phone", "money", "date")

# ASCII-only boundaries: Python's \b treats Chinese characters as word characters, so "是B0C7K2M9QX的"
# would have no boundary around the ASIN.
_L = r"(?<![A-Za-z0-9])"
_R = r"(?![A-Za-z0-9])"
_I = re.IGNORECASE


@dataclass(frozen=True)
class Entity:
    """One entity found in a text; `value` is its normalized form (ISO date, upper-case id...)."""

    type: str
    text: str
    value: str
    start: int
    end: int

    def to_dict(self) -> dict:
        return asdict(self)


def _has_digits(s: str, n: int) -> bool:
    return sum(ch.isdigit() for ch in s) >= n


# --- patterns, in priority order: an earlier type wins an overlapping span -------------------
# The lookbehind lets a match start only where a run of address characters starts: without it
# the engine retries from every position of a long run, quadratic in its length.
_EMAIL = re.compile(
    r"(?<![A-Za-z0-9._%+-])[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]{1,63}(?:\.[A-Za-z0-9-]{1,63}){0,8}\.[A-Za-z]{2,24}"
)

_ORDER_AMAZON = re.compile(r"(?<![\d-])\d{3}-\d{7}-\d{7}(?![\d-])")
_ORDER_ANCHORED = re.compile(
    r"(?:订单编号|订单号码?|订单|order\s*(?:id|number|no\.?|num|#)?)\s*[:#]?\s*"
    r"(?P<v>[A-Za-z0-9][A-Za-z0-9-]{5,28})" + _R,
    _I,
)

_TRACKING_PATTERNS = (
    re.compile(_L + r"1Z[0-9A-Z]{16}" + _R, _I),  # UPS
    re.compile(r"(?<!\d)9[2-5]\d{18,24}(?!\d)"),  # USPS
    re.compile(_L + r"[A-Z]{2}\d{9}[A-Z]{2}" + _R, _I),  # UPU S10: China Post, Royal Mail...
    re.compile(_L + r"(?:YT|LP|SF|JD|JT|TBA|YW|UUS|CNAQV|ZTO|YD)\d{9,22}" + _R, _I),
)
_TRACKING_ANCHORED = re.compile(
    r"(?:tracking|运单|物流单|快递单|物流|快递|追踪|跟踪|ups|usps|fedex|dhl|royal mail)"
    r"\s*(?:号码|编号|号|码|number|no\.?|num|id|#)?\s*(?:is|是|为)?\s*[:#]?\s*"
    r"(?P<v>[A-Za-z0-9]{8,30})" + _R,
    _I,
)

_ASIN = re.compile(_L + r"B0[0-9A-Z]{8}" + _R, _I)

_PHONE_PATTERNS = (
    re.compile(
        r"(?<![\w+])\+\d{1,3}[\s-]?(?:\(\d{1,4}\)[\s-]?)?\d{2,4}(?:[\s-]?\d{2,4}){1,4}(?!\d)"
    ),
    # Chinese mobile, also written 3-4-4 with spaces or dashes, with or without 86 before it
    re.compile(r"(?<![\d-])(?:86[\s-]?)?1[3-9]\d(?:[\s-]?\d{4}){2}(?![\d-])"),
    re.compile(r"(?<![\d-])\(?\d{3}\)?[\s.-]\d{3}[\s.-]\d{4}(?![\d-])"),  # North American
)

_CURRENCY_PREFIX = r"(?:US\$|C\$|CA\$|A\$|AU\$|HK\$|\$|€|£|¥|￥|USD|EUR|GBP|JPY|CNY|RMB|CAD|AUD)"
_CURRENCY_SUFFIX = (
    r"(?:USD|EUR|GBP|JPY|CNY|RMB|CAD|AUD|dollars?|bucks|euros?|pounds?|yen|"
    r"美元|美金|欧元|英镑|日元|日币|人民币|加元|澳元|块钱|块|元|刀)"
)
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_MONEY = re.compile(
    rf"(?P<pre>{_CURRENCY_PREFIX})\s?(?P<a>{_NUMBER})(?!\d)(?:\s?(?P<post2>{_CURRENCY_SUFFIX})(?![A-Za-z]))?|"
    rf"(?<![\d.,])(?P<b>{_NUMBER})\s?(?P<post>{_CURRENCY_SUFFIX})(?![A-Za-z])",
    _I,
)
_CURRENCY_CODES = {
    "$": "USD",
    "us$": "USD",
    "usd": "USD",
    "dollar": "USD",
    "dollars": "USD",
    "bucks": "USD",
    "美元": "USD",
    "美金": "USD",
    "刀": "USD",
    "€": "EUR",
    "eur": "EUR",
    "euro": "EUR",
    "euros": "EUR",
    "欧元": "EUR",
    "£": "GBP",
    "gbp": "GBP",
    "pound": "GBP",
    "pounds": "GBP",
    "英镑": "GBP",
    "¥": "CNY",
    "￥": "CNY",
    "cny": "CNY",
    "rmb": "CNY",
    "元": "CNY",
    "块": "CNY",
    "块钱": "CNY",
    "人民币": "CNY",
    "jpy": "JPY",
    "yen": "JPY",
    "日元": "JPY",
    "日币": "JPY",
    "c$": "CAD",
    "ca$": "CAD",
    "cad": "CAD",
    "加元": "CAD",
    "a$": "AUD",
    "au$": "AUD",
    "aud": "AUD",
    "澳元": "AUD",
    "hk$": "HKD",
}

_MONTHS = {
    m: i + 1
    for i, names in enumerate(
        (
            "jan january",
            "feb february",
            "mar march",
            "apr april",
            "may",
            "jun june",
            "jul july",
            "aug august",
            "sep sept september",
            "oct october",
            "nov november",
            "dec december",
        )
    )
    for m in names.split()
}
_MONTH = r"(?P<mon>jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"  # noqa: E501
_DATE_PATTERNS = (
    re.compile(
        r"(?<!\d)(?P<y>20\d{2})\s?[-/.年]\s?(?P<m>\d{1,2})\s?[-/.月]\s?(?P<d>\d{1,2})\s?[日号]?(?!\d)"
    ),
    re.compile(r"(?<!\d)(?P<m>\d{1,2})\s?月\s?(?P<d>\d{1,2})\s?[日号]"),
    re.compile(
        rf"{_L}{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?(?:,?\s+(?P<y>20\d{{2}}))?(?!\d)", _I
    ),
    re.compile(
        rf"(?<!\d)(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH}(?:,?\s+(?P<y>20\d{{2}}))?{_R}",
        _I,
    ),
    re.compile(r"(?<![\d/.])(?P<m>\d{1,2})/(?P<d>\d{1,2})(?:/(?P<y>(?:20)?\d{2}))?(?![\d/])"),
    re.compile(
        r"昨天|前天|今天|上周[一二三四五六日天]?|上个?星期[一二三四五六日天]?|上个?月|"
        + _L
        + r"(?:yesterday|today|last\s+(?:week|month|monday|tuesday|wednesday|thursday|friday"
        r"|saturday|sunday))" + _R,
        _I,
    ),
)


def _date_value(match: re.Match) -> str | None:
    groups = match.groupdict()
    if not groups:
        return match.group(0).lower()
    month = groups.get("m")
    month = int(month) if month else _MONTHS.get((groups.get("mon") or "").lower().rstrip("."))
    day = int(groups["d"]) if groups.get("d") else None
    if not month or not day or not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    year = groups.get("y")
    if year:
        year = int(year) + (2000 if len(year) == 2 else 0)
        return f"{year:04d}-{month:02d}-{day:02d}"
    return f"--{month:02d}-{day:02d}"  # ISO 8601 form of a date without its year


def _money_value(match: re.Match) -> str | None:
    amount = match.group("a") or match.group("b")
    # "¥2,980 JPY": a code after the amount says which currency an ambiguous symbol means
    symbol = (match.group("post2") or match.group("pre") or match.group("post")).lower()
    currency = _CURRENCY_CODES.get(symbol, symbol.upper())
    return f"{amount.replace(',', '')} {currency}"


def _candidates(text: str) -> Iterator[tuple[str, int, int, str]]:
    """(type, start, end, value) of every match, in priority order."""
    for m in _EMAIL.finditer(text):
        yield "email", m.start(), m.end(), m.group(0).lower()
    for m in _ORDER_AMAZON.finditer(text):
        yield "order_id", m.start(), m.end(), m.group(0)
    for m in _ORDER_ANCHORED.finditer(text):
        if _has_digits(m.group("v"), 5):
            yield "order_id", m.start("v"), m.end("v"), m.group("v").upper()
    for pattern in _TRACKING_PATTERNS:
        for m in pattern.finditer(text):
            yield "tracking_number", m.start(), m.end(), m.group(0).upper()
    for m in _TRACKING_ANCHORED.finditer(text):
        if _has_digits(m.group("v"), 6):
            yield "tracking_number", m.start("v"), m.end("v"), m.group("v").upper()
    for m in _ASIN.finditer(text):
        yield "asin", m.start(), m.end(), m.group(0).upper()
    for pattern in _PHONE_PATTERNS:
        for m in pattern.finditer(text):
            number = re.sub(r"[^\d+]", "", m.group(0))
            if _has_digits(number, 7):  # shorter runs are extensions, codes or quantities
                yield "phone", m.start(), m.end(), number
    for m in _MONEY.finditer(text):
        value = _money_value(m)
        if value:
            yield "money", m.start(), m.end(), value
    for pattern in _DATE_PATTERNS:
        for m in pattern.finditer(text):
            value = _date_value(m)
            if value:
                yield "date", m.start(), m.end(), value


def extract_entities(text: str) -> list[Entity]:
    """All entities of `text`, without overlaps, sorted by position.

    >>> [(e.type, e.value) for e in extract_entities("订单112-4839201-7734512的包裹3月5日还没到")]
    [('order_id', '112-4839201-7734512'), ('date', '--03-05')]
    """
    probe = to_halfwidth(text)
    # accepted spans never overlap, so kept sorted by start a new span can only overlap its two
    # neighbours: a bisection instead of a scan keeps texts with thousands of entities linear
    starts: list[int] = []
    ends: list[int] = []
    found = []
    for kind, start, end, value in _candidates(probe):
        i = bisect.bisect_right(starts, start)
        if start == end or (i > 0 and ends[i - 1] > start) or (i < len(starts) and starts[i] < end):
            continue
        starts.insert(i, start)
        ends.insert(i, end)
        found.append(Entity(kind, text[start:end], value, start, end))
    return sorted(found, key=lambda e: e.start)


def _replace(text: str, entities: list[Entity], repl: Callable[[Entity], str]) -> str:
    out, last = [], 0
    for ent in entities:
        out.append(text[last : ent.start])
        out.append(repl(ent))
        last = ent.end
    out.append(text[last:])
    return "".join(out)


def redact(text: str) -> str:
    """`text` with emails and phone numbers replaced by ``[EMAIL]`` and ``[PHONE]``."""
    # Replacing one entity can expose another ("x@y.com+1 415 555 0137": the number only reads as
    # a phone once the address before it is gone), so repeat until nothing personal is left.
    for _ in range(5):
        personal = [e for e in extract_entities(text) if e.type in ("email", "phone")]
        if not personal:
            break
        text = _replace(text, personal, lambda e: f"[{e.type.upper()}]")
    return text


_MASKS = {
    "order_id": " ordernum ",
    "asin": " asincode ",
    "tracking_number": " trackingnum ",
    "date": " dateval ",
    "money": " moneyval ",
    "email": " emailaddr ",
    "phone": " phonenum ",
}
_DIGITS = re.compile(r"\d+")


def mask_entities(text: str) -> str:
    """Replace entities by one placeholder word per type and other digit runs by ``0``.

    Used inside the classifier's pipeline so that it learns "an order number is given", not the
    number itself.
    """
    masked = _replace(text, extract_entities(text), lambda e: _MASKS[e.type])
    return _DIGITS.sub("0", masked)
