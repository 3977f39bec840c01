"""Scoring cost of the default risk model: this checkout against another one, in the same run.

    .venv/bin/python benchmarks/risk_cost.py --other ../main [--orders 100000] [--days 730] [--bare]
        [--kind hgb|logistic] [--json]

For each code tree (this one and `--other`, each imported through its own PYTHONPATH in a
child process, one after the other, `--rounds` times) the child simulates the marketplace of
benchmarks/risk_simulated.py, trains the default model (`fit_risk_model`, kind hgb) on the
earliest 80 % of orders and measures the CPU time (`time.process_time`, best of `--repeats`)
of scoring the latest 20 %'s snapshots: as-of features plus `predict_proba`, in batches of
50,000, and one snapshot at a time for `--single` snapshots (the cost of one HTTP score). One
thread (threadpoolctl). It also reports the test ROC AUC and Brier per decision point
unrounded, to compare two trees beyond the 4 decimals of the other benchmarks. A progress bar
on stderr, a step per child run.

With `--bare` the simulated orders lose their optional fields (seller, buyer, items, carrier),
as when Olist's orders table is imported alone: every snapshot is then scored by the model's
fallback for such orders, whose cost the default run (full orders only) does not see. With
`--kind logistic` the model timed is the logistic baseline instead (`LogisticRiskModel`).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from tqdm import tqdm

ROOT = Path(__file__).resolve().parent.parent


def worker(
    orders: int, days: int, single: int, repeats: int, bare: bool = False, kind: str = "hgb"
) -> dict:
    """Train and time scoring with whatever `triage` the PYTHONPATH gives."""
    import numpy as np
    from sklearn.metrics import brier_score_loss, roc_auc_score
    from threadpoolctl import threadpool_limits

    import triage
    from triage.orders.data.fields import ORDER_FIELDS
    from triage.orders.data.schema import validate_events, validate_orders
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.features import FEATURES, OrderFeatures
    from triage.orders.risk.snapshots import seconds
    from triage.orders.risk.training import build_dataset, fit_risk_model, time_split

    with threadpool_limits(limits=1):
        sim = simulate_marketplace(orders, seed=0, days=days)
        # derived here as fields.OPTIONAL_COLUMNS is: the other tree may predate that constant
        optional = [f.name for f in ORDER_FIELDS if bare and not f.required and not f.outcome]
        table = validate_orders(sim.orders.drop(columns=optional))
        events = validate_events(sim.events, table["order_id"])
        dataset = build_dataset(table, events)
        train, test = time_split(dataset)
        model = fit_risk_model(dataset, train, kind=kind)
        snaps = dataset.snapshots[test]
        rows, times = snaps["row"].to_numpy(), seconds(snaps["as_of"])
        index = OrderFeatures(table, events)
        batch, one = [], []
        pick = np.random.default_rng(0).choice(len(rows), min(single, len(rows)), replace=False)
        for _ in range(repeats):
            start = time.process_time()
            scores = []
            for first in range(0, len(rows), 50_000):
                X = index.build(rows[first : first + 50_000], times[first : first + 50_000])
                scores.append(model.predict_proba(X)[:, 1])
            batch.append(time.process_time() - start)
            start = time.process_time()
            for i in pick:
                model.predict_proba(index.build(rows[i : i + 1], times[i : i + 1]))
            one.append(time.process_time() - start)
        batch, one = min(batch), min(one)
        scores = np.concatenate(scores)
        y, points = dataset.y[test], snaps["point"].to_numpy()
        accuracy = {
            point: {
                "roc_auc": round(
                    float(roc_auc_score(y[points == point], scores[points == point])), 6
                ),
                "brier": round(
                    float(brier_score_loss(y[points == point], scores[points == point])), 6
                ),
            }
            for point in ("purchase", "handover", "open_daily")
        }
    return {
        "triage": str(Path(triage.__file__).parent.parent),
        "snapshots": int(len(rows)),
        "batch_cpu_seconds": round(batch, 3),
        "batch_us_per_snapshot": round(1e6 * batch / len(rows), 2),
        "single_snapshots": int(len(pick)),
        "single_ms_per_snapshot": round(1e3 * one / max(len(pick), 1), 3),
        # the columns the model reads (a logistic model: its `features`, by default all)
        "features": len(
            getattr(model, "feature_names_in_", getattr(model, "features", None) or FEATURES)
        ),
        # features of the fallback for orders without optional fields (None: no fallback)
        "fallback_features": (
            len(model.fallback_.feature_names_in_)
            if getattr(model, "fallback_", None) is not None
            else None
        ),
        "accuracy": accuracy,
    }


def run(tree: Path, args) -> dict:
    env = {**os.environ, "PYTHONPATH": str(tree), "PYTHONDONTWRITEBYTECODE": "1"}
    command = [sys.executable, __file__, "--worker", "--orders", str(args.orders)]
    command += ["--days", str(args.days), "--single", str(args.single)]
    command += ["--repeats", str(args.repeats), "--kind", args.kind]
    command += ["--bare"] if args.bare else []
    out = subprocess.run(command, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--other", type=Path, default=ROOT.parent / "main")
    parser.add_argument("--orders", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=730)
    parser.add_argument("--single", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument(
        "--bare", action="store_true", help="orders without optional fields (the fallback)"
    )
    parser.add_argument("--kind", choices=["hgb", "logistic"], default="hgb", help="model timed")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.worker:
        arguments = (args.orders, args.days, args.single, args.repeats, args.bare, args.kind)
        print(json.dumps(worker(*arguments)))
        return 0
    trees = {"this": ROOT, "other": args.other.resolve()}
    runs: dict[str, list[dict]] = {name: [] for name in trees}
    # a few minutes per run: one bar on stderr (stdout holds the results)
    with tqdm(total=args.rounds * len(trees), desc="runs", unit="run", file=sys.stderr) as bar:
        for _ in range(args.rounds):
            for name, tree in trees.items():
                bar.set_postfix_str(name)
                runs[name].append(run(tree, args))
                bar.update(1)
    summary = {
        name: {
            "tree": str(trees[name]),
            "batch_us_per_snapshot": statistics.median(r["batch_us_per_snapshot"] for r in rs),
            "single_ms_per_snapshot": statistics.median(r["single_ms_per_snapshot"] for r in rs),
            "features": rs[0]["features"],
            "fallback_features": rs[0]["fallback_features"],
            "accuracy": rs[0]["accuracy"],
        }
        for name, rs in runs.items()
    }
    ratio = {
        key: round(summary["this"][key] / summary["other"][key], 3)
        for key in ("batch_us_per_snapshot", "single_ms_per_snapshot")
    }
    document = {"runs": runs, "summary": summary, "ratio_this_over_other": ratio}
    if args.json:
        print(json.dumps(document, indent=2))
        return 0
    for name, s in summary.items():
        print(
            f"{name} ({s['tree']}): {s['batch_us_per_snapshot']} us CPU per snapshot in batches, "
            f"{s['single_ms_per_snapshot']} ms one at a time; {s['features']} features "
            f"(fallback: {s['fallback_features']})"
        )
        print(f"  test ROC AUC / Brier: {s['accuracy']}")
    print(f"this / other: {ratio}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
