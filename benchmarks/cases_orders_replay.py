"""One order, one case, replayed: simulated orders and events fed to the service day by day
while simulated buyers file cases for late orders, before or after a suggestion appears.

    .venv/bin/python benchmarks/cases_orders_replay.py [--orders 10000] [--models models]

A temporary SQLite database; the registry's champion models (`make bootstrap`). Each simulated
day: the day's orders and tracking events are ingested (`OrderService.ingest`, which re-scores
the orders they touch and makes suggestions under the policy), then

- a buyer of some late orders (past the promise, undelivered) files a case: categorized with the
  order (`order_contexts`, the case model with `LinkedOrder`) and filed (`file_case`), as
  ``POST /v1/cases/categorize`` does; some of them file again on a later day;
- the filers of some open suggestions accept them (`OrderService.accept`); others dismiss them.

At the end it checks the rules: no order has two cases, every accepted suggestion names exactly
one case and that case names it back, no suggestion of an order was made while the order had an
open case. Prints the counts and the number of violations (0 expected).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from triage.cases.intake import CaseText, categorize  # noqa: E402
from triage.cases.router import CaseRouter  # noqa: E402
from triage.errors import ConflictError  # noqa: E402
from triage.orders.data.simulator import simulate_marketplace  # noqa: E402
from triage.orders.filing import file_case, filed_case, order_contexts  # noqa: E402
from triage.orders.risk.scoring import RiskScorer  # noqa: E402
from triage.orders.service import OrderService  # noqa: E402
from triage.registry import Registry  # noqa: E402
from triage.store import Store  # noqa: E402
from triage.taxonomy import load_taxonomy  # noqa: E402

TEXTS = ("where is my order??", "还没到，怎么回事", "still nothing, what is going on", "东西呢")


def _records(frame: pd.DataFrame) -> list[dict]:
    out = frame.copy()
    for column in out.columns:
        if pd.api.types.is_datetime64_any_dtype(out[column]):
            out[column] = out[column].map(lambda t: None if pd.isna(t) else t.isoformat())
    return out.astype(object).where(out.notna(), None).to_dict("records")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--file-rate", type=float, default=0.2, help="late orders filed per day")
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    registry = Registry(args.models)
    router = CaseRouter.from_registry(registry, load_taxonomy())
    scorer = RiskScorer.from_registry(registry)
    sim = simulate_marketplace(args.orders, seed=args.seed)
    orders = sim.orders.drop(columns=["delivered_at"])  # delivery comes as an event
    events = sim.events
    folder = Path(tempfile.mkdtemp(prefix="cases-orders-replay-"))
    counts: Counter[str] = Counter()
    started = time.perf_counter()
    try:
        store = Store(f"sqlite:///{folder / 'triage.db'}")
        store.migrate()
        service = OrderService(store, history_cache=True)
        days = pd.date_range(
            orders["purchased_at"].min().floor("D"),
            events["time"].max().ceil("D"),
            freq="D",
        )
        filed_before: set[str] = set()
        for day in days[1:]:
            now = day.to_pydatetime()
            new = orders[
                (orders["purchased_at"] < day)
                & (orders["purchased_at"] >= day - pd.Timedelta(days=1))
            ]
            happened = events[
                (events["time"] < day) & (events["time"] >= day - pd.Timedelta(days=1))
            ]
            happened = happened[
                happened["order_id"].isin(service.orders.known(happened["order_id"]))
                | happened["order_id"].isin(new["order_id"])
            ]
            if len(new) or len(happened):
                result = service.ingest(scorer, _records(new), _records(happened), now=now)
                counts["suggestions made"] += len(result.suggestions)
            # buyers of late orders file cases (some again, later)
            late = [
                order_id
                for order_id, context in order_contexts(
                    service, service.suggestions.open_orders(), now
                ).items()
                if context.status in ("not_shipped", "in_transit")
            ]
            frame = orders[(orders["purchased_at"] < day)]
            overdue = frame[(frame["promised_date"] + pd.Timedelta(days=1) < day)]["order_id"]
            candidates = sorted(
                set(late)
                | set(
                    overdue.sample(min(len(overdue), 200), random_state=int(rng.integers(1 << 30)))
                )
            )
            filers = [o for o in candidates if rng.random() < args.file_rate]
            again = [o for o in sorted(filed_before) if rng.random() < 0.05]
            for order_id in filers + again:
                contexts = order_contexts(service, [order_id], now)
                context = contexts.get(order_id)
                if context is None or context.status not in ("not_shipped", "in_transit"):
                    continue
                text = TEXTS[int(rng.integers(len(TEXTS)))]
                [done] = categorize(
                    router, [CaseText(text, order_id=order_id, order=context.linked())], now=now
                )
                store.log_predictions([done.record])
                _, created = file_case(service, filed_case(order_id, text, done, now, "buyer"))
                counts["filings"] += 1
                counts["cases stored" if created else "filings joined an open case"] += 1
                filed_before.add(order_id)
            # filers decide some open suggestions
            for suggestion in service.suggestions.list(status="open", limit=1000):
                draw = rng.random()
                try:
                    if draw < 0.15:
                        service.accept(router, suggestion.suggestion_id, now=now)
                        counts["suggestions accepted"] += 1
                    elif draw < 0.2:
                        service.dismiss(suggestion.suggestion_id, now=now)
                        counts["suggestions dismissed"] += 1
                except ConflictError:
                    counts["decisions refused (order has a case)"] += 1
        seconds = time.perf_counter() - started
        with store.transaction() as conn:
            cases = pd.read_sql(
                "SELECT id, order_id, suggestion_id, created_at, status, origin FROM cases", conn
            )
            suggestions = pd.read_sql(
                "SELECT id, order_id, status, case_id, created_at FROM suggestions", conn
            )
        store.dispose()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    per_order = cases.groupby("order_id").size()
    accepted = suggestions[suggestions["status"] == "accepted"]
    by_id = cases.set_index("id")
    unlinked = [
        s.id
        for s in accepted.itertuples()
        if s.case_id not in by_id.index or by_id.loc[s.case_id, "suggestion_id"] != s.id
    ]
    linked_twice = cases["suggestion_id"].dropna().duplicated().sum()
    first_case = cases.groupby("order_id")["created_at"].min()
    after_case = suggestions[
        suggestions["order_id"].isin(first_case.index)
        & (
            pd.to_datetime(suggestions["created_at"])
            > pd.to_datetime(suggestions["order_id"].map(first_case))
        )
    ]
    report = {
        "orders": int(len(orders)),
        "days": int(len(days) - 1),
        "seconds": round(seconds, 1),
        **{k: int(v) for k, v in counts.items()},
        "cases": int(len(cases)),
        "filed cases that accepted the order's open suggestion": int(
            ((cases["origin"] == "filed") & cases["suggestion_id"].notna()).sum()
        ),
        "filed cases for orders without a suggestion then": int(
            ((cases["origin"] == "filed") & cases["suggestion_id"].isna()).sum()
        ),
        "cases opened by accepting a suggestion": int((cases["origin"] == "suggestion").sum()),
        "orders with a case": int(len(per_order)),
        "violations": {
            "orders with more than one case": int((per_order > 1).sum()),
            "accepted suggestions not linked to exactly one case": len(unlinked)
            + int(linked_twice),
            "suggestions made after the order's case was filed": int(len(after_case)),
        },
    }
    print(json.dumps(report, indent=2))
    return 1 if any(report["violations"].values()) else 0


if __name__ == "__main__":
    raise SystemExit(main())
