"""Training and evaluation of risk models on time-ordered splits, for the CLI, bootstrap and benchmarks.

    dataset = build_dataset(orders, events)                  # labelled snapshots and features
    train, test = time_split(dataset, test_from="2017-10-01")  # by purchase time, never at random
    model = fit_risk_model(dataset, train)                    # calibrated, with a policy threshold
    report = evaluate_risk(model, dataset, test)              # per decision point + the policy

Each decision point gets the same total weight in training (open_daily has many more rows per
order than purchase and handover). The suggestion threshold is chosen on the latest 20 % of the
training orders, scored by a model that did not train on them, for a target *order-level*
precision: an order is flagged the first time one of its snapshots reaches the threshold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from triage.errors import InputError
from triage.orders.risk.baseline import LogisticRiskModel
from triage.orders.risk.features import FEATURES, OrderFeatures, bare_rows
from triage.orders.risk.model import RiskModel
from triage.orders.risk.snapshots import (
    DAY,
    DECISION_POINTS,
    decision_snapshots,
    late_labels,
    lateness_days,
    promise_end,
    seconds,
)

__all__ = [
    "RiskDataset",
    "build_dataset",
    "choose_threshold",
    "evaluate_risk",
    "fit_risk_model",
    "make_estimator",
    "policy_outcomes",
    "time_split",
]


@dataclass
class RiskDataset:
    """Labelled snapshots of one pair of tables: rows of `X` match rows of `snapshots`."""

    orders: pd.DataFrame
    events: pd.DataFrame
    snapshots: pd.DataFrame  # row, order_id, point, as_of
    X: pd.DataFrame
    y: np.ndarray  # 1 late, 0 on time (per snapshot, from its order)
    purchase: np.ndarray  # purchase time of each snapshot's order, seconds
    # days from the end of the promised day to the delivery of each snapshot's order (+inf lost)
    lateness: np.ndarray | None = None

    def data_hash(self) -> str:
        """SHA-256 of order ids, purchase times and labels: the data snapshot id."""
        digest = hashlib.sha256()
        digest.update(self.orders["order_id"].to_numpy().astype(str).astype("U").tobytes())
        digest.update(seconds(self.orders["purchased_at"]).tobytes())
        digest.update(np.nan_to_num(late_labels(self.orders, self.events), nan=-1).tobytes())
        return digest.hexdigest()


def build_dataset(
    orders: pd.DataFrame,
    events: pd.DataFrame,
    *,
    horizon: pd.Timestamp | None = None,
    progress: Callable[[str], None] | None = None,
) -> RiskDataset:
    """Snapshots of the orders whose outcome is known, with their as-of features."""
    labels = late_labels(orders, events, horizon=horizon)
    snapshots = decision_snapshots(orders, events)
    rows = snapshots["row"].to_numpy()
    keep = ~np.isnan(labels[rows])
    snapshots = snapshots[keep].reset_index(drop=True)
    if progress:
        progress("snapshots")
    if snapshots.empty:
        raise InputError("no order has a known outcome (delivered, or lost past its promise)")
    rows = snapshots["row"].to_numpy()
    X = OrderFeatures(orders, events).build(rows, seconds(snapshots["as_of"]))
    if progress:
        progress("features")
    return RiskDataset(
        orders,
        events,
        snapshots,
        X,
        labels[rows].astype(int),
        seconds(orders["purchased_at"])[rows],
        lateness_days(orders, events, labels)[rows],
    )


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    stamp = pd.Timestamp(value)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def time_split(
    dataset: RiskDataset,
    *,
    test_from: str | pd.Timestamp | None = None,
    test_until: str | pd.Timestamp | None = None,
    test_fraction: float = 0.2,
) -> tuple[np.ndarray, np.ndarray]:
    """Masks (train, test) of snapshots by their order's purchase time.

    With `test_from`, orders purchased before it train and those from it (until `test_until`,
    exclusive) test; otherwise the latest `test_fraction` of orders test.
    """
    if test_from is not None:
        start = int(_utc(test_from).timestamp())
    else:
        order_times = np.unique(dataset.purchase)
        start = int(np.quantile(order_times, 1 - test_fraction))
    stop = int(_utc(test_until).timestamp()) if test_until is not None else np.iinfo(np.int64).max
    train = dataset.purchase < start
    test = (dataset.purchase >= start) & (dataset.purchase < stop)
    for name, mask in (("training", train), ("test", test)):
        if not mask.any() or len(np.unique(dataset.y[mask])) < 2:
            raise InputError(
                f"the {name} period has no snapshots with both late and on-time orders; move the split date"
            )
    return train, test


def point_weights(points: pd.Series | pd.Categorical) -> np.ndarray:
    """Weights giving each decision point the same total weight, rows of one point equal."""
    points = np.asarray(points, dtype=object)
    weights = np.ones(len(points))
    present = [p for p in DECISION_POINTS if (points == p).any()]
    for p in present:
        mask = points == p
        weights[mask] = len(points) / (len(present) * mask.sum())
    return weights


def make_estimator(kind: str = "hgb", params: dict | None = None):
    """`RiskModel` ("hgb") or the `LogisticRiskModel` baseline ("logistic")."""
    if kind == "hgb":
        return RiskModel(**(params or {}))
    if kind == "logistic":
        return LogisticRiskModel(**(params or {}))
    raise InputError(f"unknown model kind {kind!r}; use hgb or logistic")


def choose_threshold(
    order_rows: np.ndarray,
    scores: np.ndarray,
    labels: np.ndarray,
    target_precision: float,
    min_flagged: int = 10,
) -> dict:
    """Lowest threshold whose flagged orders (max score >= threshold) reach `target_precision`.

    Returns threshold, precision and recall on these orders, and whether the target was met;
    when it is not, the threshold of the best precision with at least `min_flagged` orders.
    """
    frame = pd.DataFrame({"row": order_rows, "score": scores, "late": labels})
    per_order = frame.groupby("row").agg(score=("score", "max"), late=("late", "max"))
    ranked = per_order.sort_values("score", ascending=False)
    late = ranked["late"].to_numpy()
    hits = np.cumsum(late)
    flagged = np.arange(1, len(ranked) + 1)
    precision = hits / flagged
    total_late = max(late.sum(), 1)
    eligible = flagged >= min(min_flagged, len(ranked))
    # only cut between distinct scores
    distinct = np.r_[ranked["score"].to_numpy()[1:] < ranked["score"].to_numpy()[:-1], True]
    ok = np.flatnonzero(eligible & distinct & (precision >= target_precision))
    met = len(ok) > 0
    if met:
        i = int(ok[-1])
    else:
        candidates = np.flatnonzero(eligible & distinct)
        i = int(candidates[np.argmax(precision[candidates])])
    return {
        "threshold": round(float(ranked["score"].iloc[i]), 6),
        "target_precision": target_precision,
        "target_met": bool(met),
        "precision": round(float(precision[i]), 4),
        "recall": round(float(hits[i] / total_late), 4),
        "orders": int(len(ranked)),
    }


def fit_risk_model(
    dataset: RiskDataset,
    mask: np.ndarray | None = None,
    *,
    kind: str = "hgb",
    params: dict | None = None,
    target_precision: float = 0.6,
    progress: Callable[[str], None] | None = None,
):
    """Fit on the snapshots in `mask` and set ``threshold_`` and ``policy_`` for suggestions."""
    mask = np.ones(len(dataset.y), bool) if mask is None else mask
    X = dataset.X[mask].reset_index(drop=True)
    y, times = dataset.y[mask], dataset.purchase[mask]
    weights = point_weights(dataset.snapshots["point"][mask])
    model = make_estimator(kind, params)
    rows = dataset.snapshots["row"].to_numpy()[mask]
    if isinstance(model, RiskModel):
        lateness = None if dataset.lateness is None else dataset.lateness[mask]
        model.fit(X, y, times, sample_weight=weights, lateness=lateness)
        holdout = model.holdout_
        model.holdout_ = None  # scores of the training data: not part of the artifact
    else:
        # same out-of-time holdout for the threshold, then refit on everything
        cut = np.quantile(times, 1 - model_fraction(model))
        early = times < cut
        probe = clone(model).fit(
            X[early].reset_index(drop=True), y[early], times[early], sample_weight=weights[early]
        )
        holdout = {
            "mask": ~early,
            "proba": probe.predict_proba(X[~early].reset_index(drop=True))[:, 1],
        }
        model.fit(X, y, times, sample_weight=weights)
    if progress:
        progress("model")
    if holdout is None:
        raise InputError(
            "too few recent orders with both outcomes to choose a threshold; give more data"
        )
    policy = choose_threshold(
        rows[holdout["mask"]], holdout["proba"], y[holdout["mask"]], target_precision
    )
    model.threshold_ = policy["threshold"]
    model.policy_ = policy
    return model


def model_fraction(model) -> float:
    return getattr(model, "calibration_fraction", 0.2)


def _top_share(y: np.ndarray, p: np.ndarray, share: float = 0.1) -> tuple[float, float]:
    k = max(1, int(np.ceil(share * len(y))))
    top = np.argsort(-p, kind="stable")[:k]
    hits = y[top].sum()
    return hits / k, hits / max(y.sum(), 1)


def _r(value: float) -> float | None:
    return None if value is None or not np.isfinite(value) else round(float(value), 4)


def point_metrics(y: np.ndarray, p: np.ndarray) -> dict:
    """ROC AUC, PR AUC, Brier, precision/recall in the top 10 %, count and late rate."""
    both = len(np.unique(y)) == 2
    precision, recall = _top_share(y, p)
    return {
        "roc_auc": _r(roc_auc_score(y, p)) if both else None,
        "pr_auc": _r(average_precision_score(y, p)) if both else None,
        "brier": _r(brier_score_loss(y, p)),
        "precision_top10": _r(precision),
        "recall_top10": _r(recall),
        "snapshots": int(len(y)),
        "late_rate": _r(y.mean()),
    }


def policy_outcomes(
    dataset: RiskDataset, mask: np.ndarray, proba: np.ndarray, threshold: float
) -> dict:
    """Replay the suggestion policy over the snapshots in time order: one suggestion per order.

    precision: late orders among those flagged; recall: flagged among all late orders; lead
    time: days between the first flag and the end of the promised day, for late orders.
    """
    snaps = dataset.snapshots[mask]
    frame = pd.DataFrame(
        {
            "row": snaps["row"].to_numpy(),
            "t": seconds(snaps["as_of"]),
            "p": proba,
            "y": dataset.y[mask],
        }
    )
    late_orders = frame.groupby("row")["y"].max()
    flagged = frame[frame["p"] >= threshold].groupby("row").agg(first=("t", "min"), y=("y", "max"))
    ends = promise_end(dataset.orders)[flagged.index.to_numpy()]
    lead = (ends - flagged["first"].to_numpy()) / DAY
    late_flagged = flagged["y"].to_numpy() == 1
    return {
        "threshold": _r(threshold),
        "suggestions": int(len(flagged)),
        "precision": _r(late_flagged.mean()) if len(flagged) else None,
        "recall": _r(late_flagged.sum() / max(int(late_orders.sum()), 1)),
        "median_lead_days": _r(np.median(lead[late_flagged])) if late_flagged.any() else None,
        "orders": int(len(late_orders)),
        "late_orders": int(late_orders.sum()),
    }


def evaluate_risk(
    model, dataset: RiskDataset, mask: np.ndarray | None = None, threshold: float | None = None
) -> tuple[dict, np.ndarray]:
    """Metrics per decision point and of the policy on the snapshots in `mask`; and the scores."""
    mask = np.ones(len(dataset.y), bool) if mask is None else mask
    proba = model.predict_proba(dataset.X[mask].reset_index(drop=True))[:, 1]
    y = dataset.y[mask]
    points = dataset.snapshots["point"][mask].to_numpy()
    metrics = {"decision_points": {}, "all": point_metrics(y, proba)}
    for point in DECISION_POINTS:
        chosen = points == point
        if chosen.any():
            metrics["decision_points"][point] = point_metrics(y[chosen], proba[chosen])
    threshold = getattr(model, "threshold_", 0.5) if threshold is None else threshold
    metrics["policy"] = policy_outcomes(dataset, mask, proba, threshold)
    metrics["orders"] = int(dataset.snapshots["row"][mask].nunique())
    return metrics, proba


def model_metadata(
    model, dataset: RiskDataset, mask: np.ndarray, *, metrics: dict, source: str, kind: str
) -> dict:
    """metadata.json content of a risk model (the registry adds versions and checksums)."""
    train = dataset.snapshots[mask]
    purchase = dataset.orders["purchased_at"].iloc[np.unique(train["row"].to_numpy())]
    return {
        "kind": "risk_model",
        "estimator": kind,
        "classes": ["on_time", "late"],
        "features": list(getattr(model, "feature_names_in_", FEATURES)),
        # the features the model scores orders without their optional fields on (RiskModel)
        "fallback_features": (
            list(model.fallback_.feature_names_in_)
            if getattr(model, "fallback_", None) is not None
            else None
        ),
        "params": {k: v for k, v in model.get_params().items()},
        "chosen_params": getattr(model, "chosen_params_", None),
        # RiskModel: what its boosters learned ("late", "lateness" or "stack", both; its target)
        "target": getattr(model, "target_", None),
        "threshold": getattr(model, "threshold_", None),
        "policy": getattr(model, "policy_", None),
        "data": {
            "source": source,
            "sha256": dataset.data_hash(),
            "orders": int(train["row"].nunique()),
            # orders without any optional field: the fallback's (RiskModel)
            "bare_orders": int(train["row"][bare_rows(dataset.X[mask])].nunique()),
            "snapshots": int(len(train)),
            "late_rate": round(float(dataset.y[mask].mean()), 4),
            "purchased_from": purchase.min().isoformat(),
            "purchased_until": purchase.max().isoformat(),
        },
        "metrics": metrics,
    }
