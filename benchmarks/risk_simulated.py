"""Delayed-order risk on the simulated marketplace: accuracy, scoring throughput, build time.

    .venv/bin/python benchmarks/risk_simulated.py [--orders 100000] [--days 730] [--seed 0] [--json]

1. Time to build `--orders` orders with their tracking events (`simulate_marketplace`), best
   and median of three runs, and the time to validate both tables against the schema.
2. Snapshots of orders purchased in the earliest 80 % of the period train, the latest 20 %
   test; gradient boosting and the logistic baseline on the same rows and features. Two years
   of purchases by default, so that training has seen one of each yearly peak (11.11, 12.12)
   before the test period holds the next ones; `--days 365` tests on a first 11.11.
3. Scoring throughput on one thread: features as of each test snapshot plus the calibrated
   model, in batches of 50,000, with and without building the as-of index first.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import numpy as np
from risk_common import compare, machine, markdown, one_core

from triage.orders.data.schema import validate_events, validate_orders
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.snapshots import seconds
from triage.orders.risk.training import build_dataset, time_split


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    document: dict = {
        "machine": machine(),
        "orders": args.orders,
        "days": args.days,
        "seed": args.seed,
    }
    with one_core():
        runs = []
        for _ in range(3):
            start = time.perf_counter()
            sim = simulate_marketplace(args.orders, seed=args.seed, days=args.days)
            runs.append(time.perf_counter() - start)
        start = time.perf_counter()
        orders = validate_orders(sim.orders)
        events = validate_events(sim.events, orders["order_id"])
        document["simulate_seconds"] = {
            "best": round(min(runs), 2),
            "median": round(statistics.median(runs), 2),
        }
        document["validate_seconds"] = round(time.perf_counter() - start, 2)
        document["events"] = len(events)
        document["days"] = (
            int((orders["purchased_at"].max() - orders["purchased_at"].min()).days) + 1
        )

        start = time.perf_counter()
        dataset = build_dataset(orders, events)
        document["dataset_seconds"] = round(time.perf_counter() - start, 2)
        train, test = time_split(dataset)
        document["train_snapshots"], document["test_snapshots"] = int(train.sum()), int(test.sum())
        results, models = compare(dataset, train, test)
        document["results"] = results

        model = models["hgb"]
        snaps = dataset.snapshots[test]
        rows, times = snaps["row"].to_numpy(), seconds(snaps["as_of"])
        start = time.perf_counter()
        index = OrderFeatures(orders, events)
        index_seconds = time.perf_counter() - start
        start = time.perf_counter()
        scored = 0
        for first in range(0, len(rows), 50_000):
            X = index.build(rows[first : first + 50_000], times[first : first + 50_000])
            scored += len(model.predict_proba(X))
        score_seconds = time.perf_counter() - start
    document["throughput"] = {
        "snapshots": scored,
        "index_seconds": round(index_seconds, 2),
        "score_seconds": round(score_seconds, 2),
        "snapshots_per_second": int(scored / score_seconds),
        "snapshots_per_second_with_index": int(scored / (score_seconds + index_seconds)),
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(f"machine: {document['machine']}")
    print(
        f"simulate {args.orders} orders + {len(events)} events over {document['days']} days: best "
        f"{document['simulate_seconds']['best']} s, median {document['simulate_seconds']['median']} s "
        f"(validation {document['validate_seconds']} s; snapshots and features {document['dataset_seconds']} s)"
    )
    print(
        f"train: earliest 80 % of orders ({document['train_snapshots']} snapshots); test: latest 20 % ({document['test_snapshots']} snapshots)"
    )
    print(markdown(results))
    t = document["throughput"]
    print(
        f"scoring on one thread: {t['snapshots']} snapshots in {t['score_seconds']} s = {t['snapshots_per_second']} snapshots/s "
        f"({t['snapshots_per_second_with_index']} /s counting the {t['index_seconds']} s index build)"
    )
    print(
        f"training seconds: hgb {results['hgb']['train_seconds']}, logistic {results['logistic']['train_seconds']}; "
        f"chosen booster settings: {results['hgb']['chosen_params']}, "
        f"learning {results['hgb']['target']}"
    )
    return 0


if __name__ == "__main__":
    np.seterr(all="ignore")
    sys.exit(main())
