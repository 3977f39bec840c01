"""Draft case descriptions in Chinese and English for a proactive suggestion.

A draft names the order, its purchase and promised dates, the carrier and the last tracking
event, says what is wrong and asks for what the category needs, so the filer can accept it
as it is or edit it.

>>> facts = {"order_id": "SIM0000042", "purchased_at": "2024-03-01T10:00:00+00:00",
...          "promised_date": "2024-03-06", "carrier": "Panda Post", "last_event": "in_transit",
...          "last_event_time": "2024-03-03T08:00:00+00:00", "last_location": "ZJ",
...          "days_left": 1.5}
>>> draft_case(facts, "shipping_delay", "en")[:60]
'Order SIM0000042, purchased on 2024-03-01 and shipped with P'
>>> overdue_phrase(0.2), overdue_phrase(1.5), overdue_phrase(3.2)
(('today', '今天'), ('1 day ago', '1 天前'), ('3 days ago', '3 天前'))
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import pandas as pd

from triage.errors import InputError
from triage.orders.risk.reasons import overdue_phrase, time_left_phrase

__all__ = ["EVENT_NAMES", "draft_case", "drafts"]

EVENT_NAMES = {  # event type: (English, Chinese)
    "label_created": ("label created", "已创建面单"),
    "picked_up": ("picked up by the carrier", "承运商已揽收"),
    "in_transit": ("in transit", "运输中"),
    "arrived_at_hub": ("arrived at the destination hub", "已到达目的地转运中心"),
    "out_for_delivery": ("out for delivery", "派送中"),
    "delivered": ("delivered", "已签收"),
    "exception": ("carrier exception", "物流异常"),
    "none": ("no tracking event yet", "暂无物流记录"),
}


_NO_PLACE = (None, "", "unknown")


def _date(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _time(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def _silent_days(facts: Mapping[str, Any]) -> int:
    """Whole days since the last tracking event (0 when unknown)."""
    value = facts.get("days_since_last_event")
    if value is None or value != value:
        return 0
    return int(math.floor(float(value)))


def draft_case(facts: Mapping[str, Any], category: str, language: str) -> str:
    """One draft in `language` ("zh" or "en") for `category` (shipping_delay or not_received).

    shipping_delay: the order is running late (the time left, or when the promised date
    passed); the filer asks for the new delivery date. not_received: the buyer has not received
    the parcel and it appears lost; the filer asks for a trace, then a reship or a refund. Both
    open with what is wrong, so that the case model reads them as their category
    (tests/test_orders_drafts.py).
    """
    if language not in ("zh", "en"):
        raise InputError(f"draft language must be zh or en, not {language!r}")
    if category not in ("shipping_delay", "not_received"):
        raise InputError(f"no draft for category {category!r}")
    order = facts["order_id"]
    carrier = facts.get("carrier") if facts.get("carrier") not in (None, "", "unknown") else None
    event = facts.get("last_event") or "none"
    event_en, event_zh = EVENT_NAMES.get(event, (event, event))
    where = facts.get("last_location") if facts.get("last_location") not in _NO_PLACE else ""
    where = where if event != "none" else ""
    when = _time(facts.get("last_event_time")) if event != "none" else "-"
    purchased, promised = _date(facts.get("purchased_at")), _date(facts.get("promised_date"))
    days_left = float(facts.get("days_left", 0.0))
    overdue = days_left <= 0
    past_en, past_zh = overdue_phrase(-days_left)
    left_en, left_zh = time_left_phrase(days_left)
    silent = _silent_days(facts) if event != "none" else 0
    if language == "en":
        last = (
            f'the last tracking event is "{event_en}"'
            + (f" on {when}" if when != "-" else "")
            + (f" at {where}" if where else "")
            if event != "none"
            else "there is no tracking event yet"
        )
        shipped = f" and shipped with {carrier}" if carrier else ""
        if category == "not_received":
            past = f" (the promised date passed {past_en})" if overdue else ""
            quiet = ", and nothing since" if silent >= 2 else ""
            return (
                f"Item not received: the buyer never got order {order} and the parcel appears "
                "to be lost. "
                f"It was purchased on {purchased}{shipped} and should have arrived by "
                f"{promised}{past}. {last[0].upper()}{last[1:]}{quiet}. Please ask the carrier "
                "to trace the lost parcel, and reship the item or refund the buyer if it cannot "
                "be found."
            )
        if overdue:
            late = f"the promised date passed {past_en}"
        elif days_left < 1:
            late = "less than a day is left"
        else:
            late = f"only {left_en} {'are' if days_left >= 2 else 'is'} left"
        return (
            f"Order {order}, purchased on {purchased}{shipped}, is running late: it was "
            f"promised for delivery by {promised} and {late}, and {last}. Please check with "
            "the carrier and tell the buyer the new expected delivery date."
        )
    last = (
        f"最后一条物流记录为「{event_zh}」"
        + (f"（{when}" + (f"，{where}" if where else "") + "）" if when != "-" else "")
        if event != "none"
        else "暂无物流记录"
    )
    shipped = f"承运商为 {carrier}" if carrier else "承运商未注明"
    head = f"订单 {order} 于 {purchased} 下单，{shipped}，承诺 {promised} 前送达"
    past = "承诺送达日今天已过" if past_zh == "今天" else f"承诺送达日已过 {past_zh[:-1]}"
    if category == "not_received":
        quiet = f"，此后 {silent} 天再无消息" if silent >= 2 else ""
        return (
            f"买家没收到货，包裹可能丢了。{head}{f'（{past}）' if overdue else ''}；{last}{quiet}，"
            "买家至今没有收到。请联系承运商查找丢失的包裹，如确认丢件，请为买家补发或退款。"
        )
    if overdue:
        late = f"{past}，包裹已延误"
    elif days_left < 1:
        late = "距承诺送达日已不到 1 天，包裹预计将延误送达"
    else:
        late = f"距承诺送达日仅剩 {left_zh}，包裹预计将延误送达"
    return f"{head}；{last}。{late}。请与承运商核实物流进度，并告知买家新的预计送达时间。"


def drafts(facts: Mapping[str, Any], category: str) -> dict[str, str]:
    """Both drafts: ``{"zh": ..., "en": ...}``."""
    return {language: draft_case(facts, category, language) for language in ("zh", "en")}
