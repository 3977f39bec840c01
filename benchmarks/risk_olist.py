"""Delayed-order risk on Olist: train on purchases up to 2017-09, test on 2017-10 to 2017-12.

    .venv/bin/python benchmarks/risk_olist.py [--datasets ../shared/datasets] [--json]

The adapter maps ../shared/datasets/olist onto the order schema (events derived from the
approval, carrier hand-over and delivery dates). Snapshots of orders purchased before
2017-10-01 train, those purchased 2017-10-01 to 2017-12-31 are reported on; features of test
snapshots still use every outcome known at their own time (history is as-of, see
triage/orders/risk/features.py). The gradient-boosted model and the logistic-regression baseline
see the same rows, features and decision-point weights. One thread (threadpoolctl).
Skips with a message when the datasets folder is absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from risk_common import DATASETS, compare, machine, markdown, olist_folder, one_core

from triage.orders.data.olist import load_olist
from triage.orders.risk.training import build_dataset, time_split

TEST_FROM, TEST_UNTIL = "2017-10-01", "2018-01-01"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--datasets", type=Path, default=DATASETS)
    parser.add_argument("--target-precision", type=float, default=0.6)
    parser.add_argument("--json", action="store_true", help="print one JSON document")
    args = parser.parse_args()
    folder = olist_folder(args.datasets)
    if folder is None:
        return 0
    with one_core():
        start = time.perf_counter()
        data = load_olist(folder)
        dataset = build_dataset(data.orders, data.events)
        prepare = time.perf_counter() - start
        train, test = time_split(dataset, test_from=TEST_FROM, test_until=TEST_UNTIL)
        results, _ = compare(dataset, train, test, target_precision=args.target_precision)
    document = {
        "machine": machine(),
        "tables": list(data.tables),
        "orders": len(data.orders),
        "train_snapshots": int(train.sum()),
        "test_snapshots": int(test.sum()),
        "prepare_seconds": round(prepare, 1),
        "results": results,
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    print(
        f"Olist: {len(data.orders)} orders, tables {', '.join(data.tables)}; machine: {document['machine']}"
    )
    print(
        f"train: purchases before {TEST_FROM} ({int(train.sum())} snapshots); test: {TEST_FROM} to {TEST_UNTIL} ({int(test.sum())} snapshots)"
    )
    print(markdown(results))
    print(
        f"training seconds: hgb {results['hgb']['train_seconds']}, logistic {results['logistic']['train_seconds']}; "
        f"chosen booster settings: {results['hgb']['chosen_params']}, "
        f"learning {results['hgb']['target']}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
