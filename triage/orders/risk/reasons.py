"""Reasons in words: the factors that raised an order's risk, in English and Chinese.

Features are grouped into factors a person recognizes (time left, hand-over, tracking gaps,
seller history, ...). A factor's impact on one order is how much the risk drops when that
factor's features are set to a typical value (the training median, or the most common
category): ``impact = risk - risk_with_factor_typical``. The factors with the largest positive
impact become the reasons, worded with the order's own values. It costs one extra prediction
per factor, so it is run only for the orders that need reasons (suggestions, single scores).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from triage.orders.risk.features import CATEGORICAL, FEATURES

__all__ = ["FACTORS", "Reason", "explain", "explain_risk", "overdue_phrase", "time_left_phrase"]


@dataclass(frozen=True)
class Reason:
    """One factor behind a risk score: its id, its impact on the risk and two wordings."""

    factor: str
    impact: float
    text_en: str
    text_zh: str

    def to_dict(self) -> dict:
        return asdict(self)


def overdue_phrase(days_past: float) -> tuple[str, str]:
    """When the promised date passed, in words: ("today", "今天"), ("1 day ago", "1 天前"),
    ("3 days ago", "3 天前"). `days_past`: days since the end of the promised day."""
    n = int(math.floor(max(days_past, 0.0)))
    if n == 0:
        return "today", "今天"
    return f"{n} day{'s' if n > 1 else ''} ago", f"{n} 天前"


def time_left_phrase(days_left: float) -> tuple[str, str]:
    """Time left before the promised date, in words: ("less than a day", "不到 1 天"),
    ("1 day", "1 天"), ("3 days", "3 天")."""
    n = int(math.floor(max(days_left, 0.0)))
    if n == 0:
        return "less than a day", "不到 1 天"
    return f"{n} day{'s' if n > 1 else ''}", f"{n} 天"


def _days(value: float) -> str:
    return f"{value:.1f}"


def _pct(value: float) -> str:
    return f"{100 * value:.0f}%"


def _time_left(r: pd.Series) -> tuple[str, str]:
    return (
        f"only {_days(r.days_left)} days left before the promised date, {_days(r.expected_remaining_days)} days of work expected",
        f"距承诺送达日仅剩 {_days(r.days_left)} 天，预计还需 {_days(r.expected_remaining_days)} 天",
    )


def _handover(r: pd.Series) -> tuple[str, str]:
    if r.handed_over:
        return (
            f"handed to the carrier {_days(r.handover_days)} days after purchase",
            f"下单后 {_days(r.handover_days)} 天才交给承运商",
        )
    return (
        f"not handed to the carrier yet, {_days(r.elapsed_days)} days after purchase",
        f"下单 {_days(r.elapsed_days)} 天后仍未交给承运商",
    )


def _tracking(r: pd.Series) -> tuple[str, str]:
    return (
        f"no tracking update for {_days(r.days_since_last_event)} days (last: {r.last_event})",
        f"已 {_days(r.days_since_last_event)} 天没有物流更新（最后状态：{r.last_event}）",
    )


def _exceptions(r: pd.Series) -> tuple[str, str]:
    return (
        f"{int(r.n_exceptions)} carrier exception(s) reported",
        f"承运商已报告 {int(r.n_exceptions)} 次异常",
    )


def _seller(r: pd.Series) -> tuple[str, str]:
    return (
        f"the seller's earlier orders were late {_pct(r.seller_late_rate)} of the time and took {_days(r.seller_handling_days)} days to hand over",
        f"该卖家以往订单延误率 {_pct(r.seller_late_rate)}，平均 {_days(r.seller_handling_days)} 天发货",
    )


def _lane(r: pd.Series) -> tuple[str, str]:
    route = f"{r.seller_region} → {r.buyer_region}"
    return (
        f"route {route}: {_pct(r.lane_late_rate)} of earlier orders late, {_days(r.lane_transit_days)} days in transit on average",
        f"线路 {route}：以往延误率 {_pct(r.lane_late_rate)}，平均运输 {_days(r.lane_transit_days)} 天",
    )


def _carrier(r: pd.Series) -> tuple[str, str]:
    return (
        f"carrier {r.carrier}: {_pct(r.carrier_late_rate_14d)} of its orders late in the last 14 days",
        f"承运商 {r.carrier} 近 14 天延误率 {_pct(r.carrier_late_rate_14d)}",
    )


def _platform(r: pd.Series) -> tuple[str, str]:
    return (
        f"lateness is high across the platform ({_pct(r.platform_late_rate_7d)} in the last 7 days, "
        f"{_pct(r.region_late_rate_7d)} to {r.buyer_region}); order volume {r.volume_ratio_7d:.1f}x the usual",
        f"平台整体延误偏高（近 7 天 {_pct(r.platform_late_rate_7d)}，发往 {r.buyer_region} {_pct(r.region_late_rate_7d)}），订单量为平时的 {r.volume_ratio_7d:.1f} 倍",
    )


def _promise(r: pd.Series) -> tuple[str, str]:
    return (
        f"a tight promise: {_days(r.promised_days)} days from purchase to the promised date",
        f"承诺时效偏紧：下单到承诺送达仅 {_days(r.promised_days)} 天",
    )


def _parcel(r: pd.Series) -> tuple[str, str]:
    return (
        f"parcel of {int(r.n_items)} item(s), {r.weight_kg:.1f} kg, {r.distance_km:.0f} km to travel",
        f"包裹 {int(r.n_items)} 件、{r.weight_kg:.1f} 公斤，运输距离 {r.distance_km:.0f} 公里",
    )


# factor id: (features it covers, wording)
FACTORS: dict[str, tuple[tuple[str, ...], Callable[[pd.Series], tuple[str, str]]]] = {
    "time_left": (
        (
            "days_left",
            "elapsed_days",
            "frac_elapsed",
            "expected_remaining_days",
            "slack_days",
            "late_given_open_rate",
            "platform_remaining_days",
            "platform_slack_days",
            "platform_exceed_prob",
            "platform_late_given_open",
        ),
        _time_left,
    ),
    "handover": (
        ("handed_over", "handover_days", "days_since_handover", "ship_by_slack", "label_created"),
        _handover,
    ),
    "tracking_gap": (("days_since_last_event", "n_events", "n_scans", "last_event"), _tracking),
    "exceptions": (("n_exceptions",), _exceptions),
    "seller_history": (("seller_orders", "seller_late_rate", "seller_handling_days"), _seller),
    "lane_history": (
        (
            "lane_orders",
            "lane_late_rate",
            "lane_transit_days",
            "same_region",
            "seller_region",
            "buyer_region",
            "transit_exceed_prob",
        ),
        _lane,
    ),
    "carrier": (("carrier", "carrier_late_rate_14d", "service_level"), _carrier),
    "platform_load": (
        (
            "platform_late_rate_7d",
            "platform_late_rate_28d",
            "region_late_rate_7d",
            "volume_ratio_7d",
            "transit_ratio_7d",
            "platform_orders",
            "platform_late_rate",
            "platform_handling_days",
            "platform_transit_days",
        ),
        _platform,
    ),
    "promise": (("promised_days", "ship_by_days", "purchase_dow", "purchase_hour"), _promise),
    "parcel": (
        ("n_items", "weight_kg", "price", "freight", "freight_ratio", "distance_km", "category"),
        _parcel,
    ),
}


def _typical(model, X: pd.DataFrame) -> dict:
    baseline = getattr(model, "baseline_", None)
    if baseline:
        return baseline
    return {
        c: (X[c].mode().iloc[0] if c in CATEGORICAL else float(np.nanmedian(X[c].to_numpy(float))))
        for c in FEATURES
    }


def explain(
    model,
    X: pd.DataFrame,
    risk: np.ndarray | None = None,
    *,
    top: int = 3,
    min_impact: float = 0.01,
) -> list[list[Reason]]:
    """The `top` reasons (impact >= `min_impact`) behind each row of `X`, strongest first."""
    return explain_risk(model, X, risk, top=top, min_impact=min_impact)[1]


def explain_risk(
    model,
    X: pd.DataFrame,
    risk: np.ndarray | None = None,
    *,
    top: int = 3,
    min_impact: float = 0.01,
) -> tuple[np.ndarray, list[list[Reason]]]:
    """(risk, reasons) of each row of `X`: `explain`, and the risk itself when not given,
    all from one prediction (the rows as they are, then once per factor with that factor's
    columns at their typical values)."""
    if len(X) == 0:
        return np.zeros(0), []
    X = X.reset_index(drop=True)
    # each row is explained by the model that scores it (RiskModel.routes: an order without its
    # optional fields by the fallback); a factor set to its typical values must not move a row
    # to the other model
    routes = model.routes(X) if hasattr(model, "routes") else [(model, np.arange(len(X)))]
    if len(routes) > 1:
        out_risk, out_reasons = np.empty(len(X)), [None] * len(X)
        for part, rows in routes:
            given = None if risk is None else np.asarray(risk, float)[rows]
            r, reasons = explain_risk(part, X.iloc[rows], given, top=top, min_impact=min_impact)
            out_risk[rows] = r
            for i, chosen in zip(rows, reasons, strict=True):
                out_reasons[i] = chosen
        return out_risk, out_reasons
    model = routes[0][0]
    typical = _typical(model, X)
    names = list(FACTORS)
    n, blocks = len(X), len(names) + (risk is None)
    columns = {c: np.tile(X[c].to_numpy(), blocks) for c in X.columns}
    for f, name in enumerate(names, start=blocks - len(names)):
        for column in FACTORS[name][0]:
            if column in typical:  # a column the model does not read changes nothing
                columns[column][f * n : (f + 1) * n] = typical[column]
    stacked = model.predict_proba(pd.DataFrame(columns))[:, 1]
    if risk is None:
        risk, stacked = stacked[:n], stacked[n:]
    risk = np.asarray(risk, dtype=float)
    impact = risk[None, :] - stacked.reshape(len(names), n)
    reasons: list[list[Reason]] = []
    for i in range(n):
        row = X.iloc[i]
        chosen = []
        for f in np.argsort(-impact[:, i])[:top]:
            if impact[f, i] < min_impact:
                break
            text_en, text_zh = FACTORS[names[f]][1](row)
            chosen.append(Reason(names[f], round(float(impact[f, i]), 4), text_en, text_zh))
        reasons.append(chosen)
    return risk, reasons
