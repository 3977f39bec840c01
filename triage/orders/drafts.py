"""Draft case descriptions in Chinese and English for a proactive suggestion.

A draft names the order, its purchase and promised dates, the carrier and the last tracking
event, says what is wrong and asks for what the category needs, so the filer can accept it
as it is or edit it.

>>> facts = {"order_id": "SIM0000042", "purchased_at": "2024-03-01T10:00:00+00:00",
...          "promised_date": "2024-03-06", "carrier": "Panda Post", "last_event": "in_transit",
...          "last_event_time": "2024-03-03T08:00:00+00:00", "last_location": "ZJ",
...          "days_left": 1.5}
>>> "SIM0000042" in draft_case(facts, "shipping_delay", "en")
True
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from triage.errors import InputError

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


def _date(value: Any) -> str:
    if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _time(value: Any) -> str:
    if value is None or value is pd.NaT or (isinstance(value, float) and value != value):
        return "-"
    return pd.Timestamp(value).strftime("%Y-%m-%d %H:%M UTC")


def draft_case(facts: Mapping[str, Any], category: str, language: str) -> str:
    """One draft in `language` ("zh" or "en") for `category` (shipping_delay or not_received)."""
    if language not in ("zh", "en"):
        raise InputError(f"draft language must be zh or en, not {language!r}")
    if category not in ("shipping_delay", "not_received"):
        raise InputError(f"no draft for category {category!r}")
    order = facts["order_id"]
    carrier = facts.get("carrier") if facts.get("carrier") not in (None, "", "unknown") else None
    event = facts.get("last_event") or "none"
    event_en, event_zh = EVENT_NAMES.get(event, (event, event))
    where = (
        facts.get("last_location") if facts.get("last_location") not in (None, "unknown") else ""
    )
    when = _time(facts.get("last_event_time")) if event != "none" else "-"
    purchased, promised = _date(facts.get("purchased_at")), _date(facts.get("promised_date"))
    days_left = float(facts.get("days_left", 0.0))
    if language == "en":
        last = (
            f'the last tracking event is "{event_en}"'
            + (f" on {when}" if when != "-" else "")
            + (f" at {where}" if where else "")
        )
        text = (
            f"Order {order}, purchased on {purchased} and shipped with "
            f"{carrier or 'a carrier not named in the order data'}, was promised for "
            f"delivery by {promised}; {last}. "
        )
        if category == "not_received":
            text += (
                f"The promised date has passed {abs(days_left):.0f} day(s) ago and the buyer has not received the parcel. "
                "Please ask the carrier to trace it, and reship or refund if it is lost."
                if days_left < 0
                else "Tracking has stopped and the parcel may be lost. Please ask the carrier to trace it, and reship or refund if it is lost."
            )
        else:
            text += (
                f"It is likely to arrive late ({days_left:.1f} day(s) left before the promised date). "
                "Please check with the carrier and tell the buyer the new expected delivery date."
            )
        return text
    last = f"最后一条物流记录为「{event_zh}」" + (
        f"（{when}" + (f"，{where}" if where else "") + "）" if when != "-" else ""
    )
    text = f"订单 {order} 于 {purchased} 下单，承运商为 {carrier or '（订单数据未注明）'}，承诺 {promised} 前送达；{last}。"
    if category == "not_received":
        text += (
            f"承诺送达日已过 {abs(days_left):.0f} 天，买家仍未收到包裹。请联系承运商查件，如已丢失请补发或退款。"
            if days_left < 0
            else "物流已长时间停止更新，包裹可能丢失。请联系承运商查件，如已丢失请补发或退款。"
        )
    else:
        text += f"预计将延误送达（距承诺送达日还剩 {days_left:.1f} 天）。请与承运商核实，并告知买家新的预计送达时间。"
    return text


def drafts(facts: Mapping[str, Any], category: str) -> dict[str, str]:
    """Both drafts: ``{"zh": ..., "en": ...}``."""
    return {language: draft_case(facts, category, language) for language in ("zh", "en")}
