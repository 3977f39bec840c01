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
from triage.orders.features import OrderFeatures
from triage.orders.reasons import Reason, explain
from triage.orders.snapshots import DAY, delivery_times, promise_end, seconds
from triage.registry import LoadedModel, Registry

__all__ = ["RISK_MODEL_NAME", "RiskScore", "RiskScorer", "suggested_category"]

RISK_MODEL_NAME = "risk"
SILENT_DAYS = 7.0
MAX_OVERDUE_DAYS = 30  # open orders further past their promise are not scored  # handed over and no tracking event for this long: probably lost


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
    """not_received once the promise is broken or tracking went silent; else shipping_delay."""
    if days_left < 0 or (handed_over and days_since_last_event >= SILENT_DAYS):
        return "not_received"
    return "shipping_delay"


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

        `total(n)` is called once with the number of open orders to score, `progress(n)` after
        each batch with the number scored in it (a progress bar's total and update).
        """
        t = _as_of_seconds(as_of, orders, events)
        rows = self.open_rows(orders, events, t)
        if order_ids is not None:
            wanted = pd.Index(list(order_ids))
            unknown = wanted.difference(orders["order_id"])
            if len(unknown):
                raise InputError(f"unknown order id(s): {', '.join(map(str, unknown[:5]))}")
            rows = rows[orders["order_id"].iloc[rows].isin(wanted).to_numpy()]
        if total:
            total(len(rows))
        features = features or OrderFeatures(orders, events)
        frames = []
        for start in range(0, len(rows), batch_size):
            chunk = rows[start : start + batch_size]
            X = features.build(chunk, np.full(len(chunk), t, np.int64))
            risk = self.model.predict_proba(X)[:, 1]
            past = X["days_left"].to_numpy() <= 0
            risk = np.where(past, 1.0, risk)
            X.insert(0, "risk", np.round(risk, 6))
            X.insert(0, "order_id", orders["order_id"].to_numpy()[chunk])
            X.insert(0, "row", chunk)
            frames.append(X)
            if progress:
                progress(len(chunk))
        if not frames:
            return pd.DataFrame(columns=["row", "order_id", "risk", "flagged"])
        out = pd.concat(frames, ignore_index=True)
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
    ) -> list[RiskScore]:
        """Full `RiskScore`s (reasons, category, facts) of open orders, highest risk first."""
        frame = self.score_frame(orders, events, as_of=as_of, order_ids=order_ids)
        if only_flagged and len(frame):
            frame = frame[frame["flagged"]]
        return self.describe(frame, orders, events, top_reasons=top_reasons)

    def describe(
        self,
        frame: pd.DataFrame,
        orders: pd.DataFrame,
        events: pd.DataFrame,
        *,
        top_reasons: int = 3,
    ) -> list[RiskScore]:
        """`RiskScore`s for rows of a `score_frame` result."""
        if frame.empty:
            return []
        frame = frame.sort_values("risk", ascending=False, kind="stable").reset_index(drop=True)
        as_of = frame.attrs.get("as_of") or pd.Timestamp.now(tz="UTC")
        model_rows = frame[frame["days_left"] > 0]
        reasons: dict[int, list[Reason]] = {}
        if len(model_rows):
            explained = explain(
                self.model,
                model_rows.drop(columns=["row", "order_id", "risk", "flagged"]),
                top=top_reasons,
            )
            reasons = dict(zip(model_rows.index, explained, strict=True))
        last = self._last_events(frame["order_id"], events, as_of)
        scores = []
        for i, row in frame.iterrows():
            order = orders.iloc[int(row["row"])]
            days_left = float(row["days_left"])
            if days_left <= 0:
                past = -days_left  # days since the end of the promised day
                found = [
                    Reason(
                        "promise_broken",
                        1.0,
                        f"the promised date passed {past:.0f} day(s) ago without delivery",
                        f"承诺送达日已过 {past:.0f} 天，仍未送达",
                    )
                ]
            else:
                found = reasons.get(i, [])
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
