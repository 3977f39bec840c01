"""Where the risk model wins or loses against its baseline out of time on Olist: three diagnoses on
the fixed split of benchmarks/risk_oot.py (train before 2017-10, test 2017-10 to 2017-12).

    .venv/bin/python benchmarks/risk_diagnose.py [--datasets ../shared/datasets] [--json]

- **subsets** (the mixed view: trained on all tables, tested on orders from the orders table
  alone): the baseline refitted on parts of the features, beside the model, per decision point.
  It shows which figures give the baseline its edge over the model's fallback for bare orders.
- **figures** (the same split): the ROC AUC of each numeric feature alone at purchase, training
  orders against test orders. A figure that ranks one way in training and the other way out of
  time cannot help a model trained on the former.
- **lead** (all tables): the model's and the baseline's daily ROC AUC by days left to the
  promise, by hand-over and by purchase month: whether the model's lead lies in one corner.

One thread (threadpoolctl). Skips when the data is absent. Results: docs/BENCHMARKS.md, "The
mean margin over the six cut-offs, and what the mixed view's baseline reads".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from risk_common import DATASETS, machine, olist_folder, one_core
from risk_oot import FIXED, load, mixed
from sklearn.metrics import roc_auc_score
from tqdm import tqdm

from triage.orders.risk.baseline import LogisticRiskModel
from triage.orders.risk.features import CATEGORICAL, FEATURES, ORDER_ONLY
from triage.orders.risk.training import (
    build_dataset,
    fit_risk_model,
    point_weights,
    time_split,
)

# history figures of a seller, lane or region: for an order without its optional fields, those of
# the "unknown" seller, lane and region
COUNTS = ("seller_orders", "lane_orders")
RATES = (
    "seller_late_rate",
    "lane_late_rate",
    "carrier_late_rate_14d",
    "region_late_rate_7d",
    "late_given_open_rate",
)
TIMES = (
    "seller_handling_days",
    "lane_transit_days",
    "expected_remaining_days",
    "slack_days",
    "transit_exceed_prob",
)
SUBSETS = {
    "every feature": FEATURES,
    "ORDER_ONLY": ORDER_ONLY,
    "ORDER_ONLY + handling and transit": ORDER_ONLY + TIMES,
    "ORDER_ONLY + rates": ORDER_ONLY + RATES,
    "ORDER_ONLY + counts": ORDER_ONLY + COUNTS,
}
DAYS_LEFT = (-np.inf, 3, 7, 14, np.inf)


def _auc(y: np.ndarray, scores: np.ndarray) -> float | None:
    return round(float(roc_auc_score(y, scores)), 4) if len(np.unique(y)) == 2 else None


def alone_auc(X: pd.DataFrame, y: np.ndarray) -> dict[str, float]:
    """ROC AUC of each numeric column of `X` alone (its known values; columns with one value
    or fewer than 100 known values left out)."""
    out = {}
    for name in X.columns:
        if name in CATEGORICAL:
            continue
        values = X[name].to_numpy(float)
        known = ~np.isnan(values)
        if known.sum() < 100 or len(np.unique(values[known])) < 2:
            continue
        auc = _auc(y[known], values[known])
        if auc is not None:
            out[name] = auc
    return out


def by_group(
    y: np.ndarray, model: np.ndarray, baseline: np.ndarray, groups: np.ndarray
) -> dict[str, dict]:
    """Snapshots, late share and both ROC AUCs per group (None for a group of one class)."""
    out = {}
    for group in pd.unique(groups):
        chosen = groups == group
        out[str(group)] = {
            "snapshots": int(chosen.sum()),
            "late_rate": round(float(y[chosen].mean()), 3),
            "model": _auc(y[chosen], model[chosen]),
            "baseline": _auc(y[chosen], baseline[chosen]),
        }
    return out


def subsets(dataset, train, test) -> dict:
    """ROC AUC per decision point on the test rows: the model, and the baseline on each of
    `SUBSETS`."""
    X, Xt = (dataset.X[m].reset_index(drop=True) for m in (train, test))
    weights = point_weights(dataset.snapshots["point"][train])
    scores = {"model": fit_risk_model(dataset, train).predict_proba(Xt)[:, 1]}
    for name, features in SUBSETS.items():
        baseline = LogisticRiskModel(features=features).fit(
            X, dataset.y[train], dataset.purchase[train], sample_weight=weights
        )
        scores[f"baseline on {name}"] = baseline.predict_proba(Xt)[:, 1]
    y, points = dataset.y[test], dataset.snapshots["point"].to_numpy()[test]
    return {
        point: {name: _auc(y[points == point], s[points == point]) for name, s in scores.items()}
        for point in pd.unique(points)
    }


def figures(dataset, train, test, point: str = "purchase") -> dict:
    """`alone_auc` of every feature at `point`, training rows against test rows."""
    points = dataset.snapshots["point"].to_numpy()
    out = {}
    for name, mask in (("train", train), ("test", test)):
        chosen = mask & (points == point)
        out[name] = alone_auc(dataset.X[chosen].reset_index(drop=True), dataset.y[chosen])
    return {
        feature: {
            "train": out["train"][feature],
            "test": out["test"].get(feature),
            "order_only": feature in ORDER_ONLY,
        }
        for feature in out["train"]
    }


def lead(dataset, train, test) -> dict:
    """Daily ROC AUC of the model and the baseline by days left, hand-over and purchase month."""
    Xt = dataset.X[test].reset_index(drop=True)
    model = fit_risk_model(dataset, train).predict_proba(Xt)[:, 1]
    baseline = fit_risk_model(dataset, train, kind="logistic").predict_proba(Xt)[:, 1]
    daily = dataset.snapshots["point"].to_numpy()[test] == "open_daily"
    y, model, baseline, Xt = dataset.y[test][daily], model[daily], baseline[daily], Xt[daily]
    left = pd.cut(Xt["days_left"], DAYS_LEFT).astype(str).to_numpy()
    handed = np.where(Xt["handed_over"].to_numpy() > 0, "handed over", "not handed over")
    month = pd.to_datetime(dataset.purchase[test][daily], unit="s").strftime("%Y-%m").to_numpy()
    return {
        "all": by_group(y, model, baseline, np.zeros(len(y), int))["0"],
        "days_left": by_group(y, model, baseline, left),
        "handover": by_group(y, model, baseline, handed),
        "purchase_month": by_group(y, model, baseline, month),
    }


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    folder = olist_folder(args.datasets)
    if folder is None:
        return 0
    start = time.perf_counter()
    document: dict = {"machine": machine(), "split": list(FIXED)}
    with one_core(), tqdm(total=3, desc="diagnoses", file=sys.stderr) as bar:
        full, alone = load(folder, "all"), load(folder, "orders")
        bare = build_dataset(*mixed(full, alone, FIXED[0]))
        train, test = time_split(bare, test_from=FIXED[0], test_until=FIXED[1])
        document["subsets"] = subsets(bare, train, test)
        bar.update(1)
        document["figures"] = figures(bare, train, test)
        bar.update(1)
        dataset = build_dataset(full.orders, full.events)
        train, test = time_split(dataset, test_from=FIXED[0], test_until=FIXED[1])
        document["lead"] = lead(dataset, train, test)
        bar.update(1)
    document["seconds"] = round(time.perf_counter() - start, 1)
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"machine: {document['machine']}; split {FIXED[0]} .. {FIXED[1]}")
    print("\nmixed view, ROC AUC on bare test orders:")
    for point, row in document["subsets"].items():
        print(f"  {point}: " + ", ".join(f"{k} {v}" for k, v in row.items()))
    print("\nmixed view, each feature alone at purchase (train -> test), by test ROC AUC:")
    ranked = sorted(document["figures"].items(), key=lambda kv: kv[1]["test"] or 0.5)
    for feature, row in ranked:
        flag = " (ORDER_ONLY)" if row["order_only"] else ""
        print(f"  {feature}{flag}: {row['train']} -> {row['test']}")
    print("\nall tables, daily ROC AUC model / baseline:")
    for key, groups in document["lead"].items():
        if key == "all":
            print(f"  all: {groups['model']} / {groups['baseline']}")
            continue
        for group, row in groups.items():
            print(
                f"  {key} {group}: {row['model']} / {row['baseline']} "
                f"({row['snapshots']} snapshots, {row['late_rate']} late)"
            )
    print(f"total {document['seconds']} s")
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
