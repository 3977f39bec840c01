"""`RiskScorer`: a loaded risk model turning open orders into scores, reasons and facts.

>>> scorer = RiskScorer.from_registry(Registry("models"))          # doctest: +SKIP
>>> frame = scorer.score_frame(orders, events, as_of=now)          # every open order, fast
>>> scores = scorer.score(orders, events, as_of=now, order_ids=["SIM0000042"])  # with reasons

`orders` and `events` are canonical tables (see schema.py). They are also the history the
seller, lane and platform features are computed from, so pass every order the caller knows
(not only the ones to score): with a single order the history features fall back to priors.
An order past its promised date and still undelivered is already late: its risk is 1.0.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

from triage.errors import InputError, ModelError
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.reasons import Reason, explain, explain_risk, overdue_phrase
from triage.orders.risk.snapshots import DAY, delivery_times, promise_end, seconds
from triage.registry import LoadedModel, Registry

__all__ = [
    "RISK_MODEL_NAME",
    "RiskScore",
    "RiskScorer",
    "order_states",
    "scoring_time",
    "states_of",
    "suggested_category",
]

RISK_MODEL_NAME = "risk"
SILENT_DAYS = 7.0  # handed over and no tracking event for this long: probably lost
LOST_AFTER_DAYS = 7.0  # handed over and this long past the promise, undelivered: probably lost
MAX_OVERDUE_DAYS = 30  # open orders further past their promise are not scored


@dataclass
class RiskScore:
    """The risk of one open order at `as_of`, why, and the facts a draft needs."""

    order_id: str
    as_of: str
    risk: float
    flagged: bool
    category: str
    reasons: list[dict] = field(default_factory=list)
    facts: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return asdict(self)


def suggested_category(days_left: float, handed_over: bool, days_since_last_event: float) -> str:
    """not_received when the parcel looks lost: handed to the carrier, then tracking silent for
    `SILENT_DAYS` or the promise broken `LOST_AFTER_DAYS` ago. Otherwise shipping_delay, as the
    taxonomy files a parcel past its expected date, silent tracking and late dispatch."""
    lost = days_since_last_event >= SILENT_DAYS or -days_left >= LOST_AFTER_DAYS
    return "not_received" if handed_over and lost else "shipping_delay"


def order_states(orders: pd.DataFrame, events: pd.DataFrame, t: int) -> np.ndarray:
    """Per order at `t` (seconds): "delivered", "canceled", "overdue" (undelivered more than
    `MAX_OVERDUE_DAYS` past its promise: no longer scored), "future" (not purchased yet) or
    "open". A suggestion for an order that is delivered or canceled is resolved, for an overdue
    one it has expired."""
    delivered = delivery_times(orders, events) <= t
    canceled = orders["canceled"].to_numpy(bool)
    overdue = promise_end(orders) + MAX_OVERDUE_DAYS * DAY <= t
    future = seconds(orders["purchased_at"]) > t
    return np.select(
        [delivered, canceled, future, overdue],
        ["delivered", "canceled", "future", "overdue"],
        "open",
    )


def states_of(orders: pd.DataFrame, events: pd.DataFrame, as_of=None) -> dict[str, str]:
    """`order_states` by order id at `as_of` (default: the latest moment the data knows)."""
    t = _as_of_seconds(as_of, orders, events)
    states = order_states(orders, events, t)
    return {str(i): str(s) for i, s in zip(orders["order_id"], states, strict=True)}


def scoring_time(orders: pd.DataFrame, events: pd.DataFrame, as_of=None) -> int:
    """The time `score_frame` scores at, in seconds: `as_of`, or the latest moment the tables
    know about (a distributed run takes the latest of its partitions')."""
    return _as_of_seconds(as_of, orders, events)


def _as_of_seconds(as_of, orders: pd.DataFrame, events: pd.DataFrame) -> int:
    if as_of is None:  # the latest moment the data knows about
        latest = int(seconds(orders["purchased_at"]).max())
        if len(events):
            latest = max(latest, int(seconds(events["time"]).max()))
        return latest
    stamp = pd.Timestamp(as_of)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return int(stamp.timestamp())


class RiskScorer:
    """Scores open orders with a fitted risk model; `threshold` decides `flagged`."""

    def __init__(
        self,
        model,
        *,
        name: str = RISK_MODEL_NAME,
        version: str = "unversioned",
        threshold: float | None = None,
    ):
        if not hasattr(model, "predict_proba"):
            raise ModelError(f"expected a risk model, got {type(model).__name__}")
        self.model = model
        self.name = name
        self.version = version
        self.threshold = float(
            threshold if threshold is not None else getattr(model, "threshold_", 0.5)
        )

    @classmethod
    def from_loaded(cls, loaded: LoadedModel) -> RiskScorer:
        if loaded.metadata.get("kind") != "risk_model":
            raise ModelError(
                f"{loaded.path} is not a risk model (kind {loaded.metadata.get('kind')!r})"
            )
        return cls(loaded.model, name=loaded.name, version=loaded.version)

    @classmethod
    def from_registry(
        cls, registry: Registry, name: str = RISK_MODEL_NAME, version: str | None = None
    ) -> RiskScorer:
        return cls.from_loaded(registry.load(name, version))

    def open_rows(self, orders: pd.DataFrame, events: pd.DataFrame, t: int) -> np.ndarray:
        """Positions of orders purchased by `t`, not delivered by `t`, not canceled, and not
        more than `MAX_OVERDUE_DAYS` past their promise (long-lost orders are past proactive help)."""
        delivered = delivery_times(orders, events)
        purchase = seconds(orders["purchased_at"])
        recent = promise_end(orders) + MAX_OVERDUE_DAYS * DAY > t
        open_ = (purchase <= t) & (delivered > t) & recent & ~orders["canceled"].to_numpy(bool)
        return np.flatnonzero(open_)

    def score_frame(
        self,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        *,
        as_of=None,
        order_ids: Iterable[str] | None = None,
        batch_size: int = 50_000,
        progress: Callable[[int], None] | None = None,
        total: Callable[[int], None] | None = None,
        features: OrderFeatures | None = None,
    ) -> pd.DataFrame:
        """order_id, risk, flagged and the feature values of every open order (no reasons).

        `features`: an `OrderFeatures` over these very tables, e.g. with the stored orders'
        history from triage.orders.risk.history_cache (built from `orders` and `events` otherwise).

        `total(n)` is called once with the number of open orders to score, `progress(n)` after
        each batch with the number scored in it (a progress bar's total and update).
        """
        t, rows = self._rows(orders, events, as_of, order_ids)
        if total:
            total(len(rows))
        features = features or OrderFeatures(orders, events)
        frames = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            X = features.build(chunk, np.full(len(chunk), t, np.int64))
            frames.append(self._framed(X, self.model.predict_proba(X)[:, 1], chunk, orders))
            if progress:
                progress(len(chunk))
        return self._joined(frames, t)

    def _rows(self, orders, events, as_of, order_ids) -> tuple[int, np.ndarray]:
        """The scoring time in seconds and the positions of the open orders to score."""
        t = _as_of_seconds(as_of, orders, events)
        rows = self.open_rows(orders, events, t)
        if order_ids is not None:
            wanted = pd.Index(list(order_ids))
            unknown = wanted.difference(orders["order_id"])
            if len(unknown):
                raise InputError(f"unknown order id(s): {', '.join(map(str, unknown[:5]))}")
            rows = rows[orders["order_id"].iloc[rows].isin(wanted).to_numpy()]
        return t, rows

    @staticmethod
    def _framed(X: pd.DataFrame, risk: np.ndarray, rows: np.ndarray, orders) -> pd.DataFrame:
        """`X` with row, order_id and risk in front (1.0 once the promise is broken)."""
        past = X["days_left"].to_numpy() <= 0
        X.insert(0, "risk", np.round(np.where(past, 1.0, risk), 6))
        X.insert(0, "order_id", orders["order_id"].to_numpy()[rows])
        X.insert(0, "row", rows)
        return X

    def _joined(self, frames: list[pd.DataFrame], t: int) -> pd.DataFrame:
        if not frames:
            return pd.DataFrame(columns=["row", "order_id", "risk", "flagged"])
        out = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
        out["flagged"] = out["risk"] >= self.threshold
        out.attrs["as_of"] = pd.Timestamp(t, unit="s", tz="UTC")
        return out

    def score(
        self,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        *,
        as_of=None,
        order_ids: Iterable[str] | None = None,
        only_flagged: bool = False,
        top_reasons: int = 3,
        features: OrderFeatures | None = None,
    ) -> list[RiskScore]:
        """Full `RiskScore`s (reasons, category, facts) of open orders, highest risk first."""
        if only_flagged:  # reasons for the flagged ones only
            frame = self.score_frame(
                orders, events, as_of=as_of, order_ids=order_ids, features=features
            )
            frame = frame[frame["flagged"]] if len(frame) else frame
            return self.describe(frame, orders, events, top_reasons=top_reasons)
        # every order gets its reasons: its risk comes from the same prediction
        t, rows = self._rows(orders, events, as_of, order_ids)
        features = features or OrderFeatures(orders, events)
        X = features.build(rows, np.full(len(rows), t, np.int64))
        model_rows = np.flatnonzero(X["days_left"].to_numpy() > 0)
        risk = np.ones(len(rows))
        risk[model_rows], explained = explain_risk(self.model, X.iloc[model_rows], top=top_reasons)
        reasons = dict(zip(rows[model_rows].tolist(), explained, strict=True))
        frame = self._joined([self._framed(X, risk, rows, orders)] if len(rows) else [], t)
        return self.describe(frame, orders, events, top_reasons=top_reasons, reasons=reasons)

    def describe(
        self,
        frame: pd.DataFrame,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        *,
        top_reasons: int = 3,
        reasons: dict[int, list[Reason]] | None = None,
    ) -> list[RiskScore]:
        """`RiskScore`s for rows of a `score_frame` result (`reasons`: those already found,
        by the order's row)."""
        if frame.empty:
            return []
        frame = frame.sort_values("risk", ascending=False, kind="stable").reset_index(drop=True)
        as_of = frame.attrs.get("as_of") or pd.Timestamp.now(tz="UTC")
        if reasons is None:
            model_rows = frame[frame["days_left"] > 0]
            reasons = {}
            if len(model_rows):
                explained = explain(
                    self.model,
                    model_rows.drop(columns=["row", "order_id", "risk", "flagged"]),
                    top=top_reasons,
                )
                reasons = dict(zip(model_rows["row"].tolist(), explained, strict=True))
        last = self._last_events(frame["order_id"], events, as_of)
        scores = []
        for _, row in frame.iterrows():
            order = orders.iloc[int(row["row"])]
            days_left = float(row["days_left"])
            if days_left <= 0:
                # days since the end of the promised day: "today", "1 day ago", "3 days ago"
                past_en, past_zh = overdue_phrase(-days_left)
                found = [
                    Reason(
                        "promise_broken",
                        1.0,
                        f"the promised delivery date passed {past_en} without delivery",
                        "承诺送达日今天已过，仍未送达"
                        if past_zh == "今天"
                        else f"承诺送达日已过 {past_zh[:-1]}，仍未送达",
                    )
                ]
            else:
                found = reasons.get(int(row["row"]), [])
            event = last.get(row["order_id"], {})
            facts = {
                "order_id": row["order_id"],
                "purchased_at": order["purchased_at"].isoformat(),
                "promised_date": order["promised_date"].strftime("%Y-%m-%d"),
                "carrier": order["carrier"],
                "service_level": order["service_level"],
                "seller_id": order["seller_id"],
                "buyer_region": order["buyer_region"],
                "days_left": round(days_left, 2),
                "handed_over": bool(row["handed_over"]),
                "days_since_last_event": round(float(row["days_since_last_event"]), 2),
                "last_event": event.get("event_type", "none"),
                "last_event_time": event.get("time"),
                "last_location": event.get("location", ""),
            }
            category = suggested_category(
                days_left, bool(row["handed_over"]), float(row["days_since_last_event"])
            )
            scores.append(
                RiskScore(
                    order_id=str(row["order_id"]),
                    as_of=as_of.isoformat(),
                    risk=round(float(row["risk"]), 4),
                    flagged=bool(row["flagged"]),
                    category=category,
                    reasons=[r.to_dict() for r in found],
                    facts=facts,
                    model={"name": self.name, "version": self.version, "threshold": self.threshold},
                )
            )
        return scores

    @staticmethod
    def _last_events(
        order_ids: pd.Series, events: pd.DataFrame, as_of: pd.Timestamp
    ) -> dict[str, dict]:
        known = events[events["order_id"].isin(order_ids) & (events["time"] <= as_of)]
        if known.empty:
            return {}
        last = known.sort_values("time", kind="stable").groupby("order_id").tail(1)
        return {
            r.order_id: {
                "event_type": r.event_type,
                "time": r.time.isoformat(),
                "location": r.location,
            }
            for r in last.itertuples()
        }
