"""Server time of every page of the operator console with a full database.

    .venv/bin/python benchmarks/console_pages.py [--predictions 100000] [--orders 10000]
        [--repeat 30] [--models DIR] [--json FILE]

Builds a fresh SQLite database (the service's default) holding `--predictions` logged
predictions spread over the last 28 days (about one in five needing review, 2 % corrected) and
`--orders` simulated orders with their tracking events, moved so that the simulation ends
today and scored by the risk model (the flagged open ones get their suggestions, as
``triage score-orders`` makes them). Models: a registry given with `--models` (its champions),
or, by default, a small case model and a small risk model trained here in seconds (so the
triage page's figure is the TF-IDF model's, without the sentence encoder of `make run`'s
default model; give ``--models models`` after ``make bootstrap`` for that one).

Each page is requested `--repeat` times after one first request, through the app in process
(Flask's test client: routing, session and CSRF checks, database queries, template rendering,
no network), signed in as an admin; reported: p50 and p95 in ms of the repeated requests, the
first request's time (the monitoring page computes its report then and reuses it for a minute;
the first page that draws a chart imports matplotlib), and the page's size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cases_default_model import machine  # noqa: E402

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def small_models(folder: Path) -> Path:
    """A registry with a small case model (with its drift reference profile) and a small risk
    model as champions."""
    from triage.cases.model import CaseClassifier
    from triage.cases.training import model_metadata
    from triage.corpus import load_corpus
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.training import build_dataset, fit_risk_model, time_split
    from triage.registry import Registry

    corpus = load_corpus(ROOT / "data" / "corpus")
    train = corpus[corpus["split"] == "train"].groupby("category").sample(40, random_state=0)
    texts, labels = train["text"].tolist(), train["category"].tolist()
    model = CaseClassifier(cv=3).fit(texts, labels)
    registry = Registry(folder)
    meta = model_metadata(model, texts, labels, metrics={}, source="benchmark", seed=0)
    registry.promote("cases", registry.create("cases", model, meta))
    sim = simulate_marketplace(3000, seed=3, start="2024-10-01", days=40)
    dataset = build_dataset(sim.orders, sim.events)
    risk = fit_risk_model(
        dataset,
        time_split(dataset)[0],
        params={"max_iter": 60, "random_state": 0},
        target_precision=0.6,
    )
    registry.promote("risk", registry.create("risk", risk, {"kind": "risk_model", "metrics": {}}))
    return folder


def fill(store, n_predictions: int, n_orders: int, models: Path) -> dict:
    """Log the predictions, store and score the orders; what was stored."""
    import pandas as pd

    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.default import move_to_day
    from triage.orders.risk.scoring import RISK_MODEL_NAME, RiskScorer
    from triage.orders.risk.snapshots import censor
    from triage.orders.service import OrderService
    from triage.registry import Registry
    from triage.store import PredictionRecord
    from triage.taxonomy import load_taxonomy

    rng = np.random.default_rng(0)
    categories = load_taxonomy().ids
    now = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    ids = []
    for start in range(0, n_predictions, 5000):
        batch = []
        for _ in range(min(5000, n_predictions - start)):
            pid = str(uuid.uuid4())
            ids.append(pid)
            confidence = float(rng.beta(5, 2))
            batch.append(
                PredictionRecord(
                    id=pid,
                    created_at=now - dt.timedelta(seconds=float(rng.uniform(0, 28 * 86400))),
                    text="包裹一直没有更新 order [ORDER_ID] still not delivered, tracking stuck",
                    language=str(rng.choice(["zh", "en", "mixed"], p=[0.5, 0.35, 0.15])),
                    category=str(rng.choice(categories)),
                    confidence=confidence,
                    needs_review=confidence < 0.55,
                    model_name="cases",
                    model_version="bench",
                )
            )
        store.log_predictions(batch)
    for pid in rng.choice(ids, size=n_predictions // 50, replace=False):
        store.add_feedback(str(pid), str(rng.choice(categories)), None)
    logged = time.perf_counter() - started

    started = time.perf_counter()
    days = min(110, max(30, n_orders // 900))
    sim = simulate_marketplace(n_orders, seed=1, start="2024-08-01", days=days)
    at = sim.orders["purchased_at"].max().ceil("D")
    orders, events = censor(sim.orders, sim.events, at)
    orders, events, _ = move_to_day(orders, events, at, pd.Timestamp.now(tz="UTC"))
    service = OrderService(store)
    service.orders.save(orders, events, now)
    scorer = RiskScorer.from_registry(Registry(models), RISK_MODEL_NAME)
    done = service.rescore(scorer, None, now)
    return {
        "predictions": n_predictions,
        "feedback": n_predictions // 50,
        "needs_review": None,
        "orders": len(orders),
        "events": len(events),
        "open_orders": done.scored,
        "suggestions": len(done.made),
        "load_seconds": round(logged + time.perf_counter() - started, 1),
    }


def measure(client, path: str, repeat: int, data: dict | None = None) -> dict:
    """p50/p95 of `repeat` requests after one warm-up; POST when `data` is given."""

    def call():
        if data is None:
            return client.get(path)
        return client.post(path, data=data)

    started = time.perf_counter()
    first = call()
    first_ms = (time.perf_counter() - started) * 1000
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        answer = call()
        times.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    return {
        "page": path if data is None else f"POST {path}",
        "p50_ms": round(float(np.percentile(times, 50)), 1),
        "p95_ms": round(float(np.percentile(times, 95)), 1),
        "first_ms": round(first_ms, 1),
        "kb": round(len(first.data) / 1024, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--predictions", type=int, default=100_000)
    parser.add_argument("--orders", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--models", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    from flask.testing import FlaskClient

    from api import create_app
    from triage.store import Store

    work = Path(tempfile.mkdtemp(prefix="triage-console-bench-"))
    try:
        models = args.models or small_models(work / "models")
        store = Store(f"sqlite:///{work / 'var' / 'triage.db'}")
        store.migrate()
        stored = fill(store, args.predictions, args.orders, models)
        stored["needs_review"] = len(store.review_queue(limit=10**9, state="pending"))
        token = store.create_key("admin", "benchmark")[1]
        store.dispose()
        print(json.dumps(stored))

        app = create_app(
            {
                "models_dir": models,
                "data_dir": work / "var",
                "model_reload_seconds": 0,
                "rate_limit_per_minute": 0,
            }
        )
        client = FlaskClient(app)
        form = client.get("/console/login")
        client.post(
            "/console/login",
            data={"api_key": token, "csrf_token": CSRF.search(form.text).group(1)},
        )
        csrf = CSRF.search(client.get("/console").text).group(1)
        orders_page = client.get("/console/orders").text
        order_id = re.search(r'href="/console/orders/([^"]+)"', orders_page).group(1)
        carrier = re.search(r'<select id="carrier".*?<option value="([^"]+)"', orders_page, re.S)
        pages = [
            ("/console", None),
            (
                "/console",
                {"text": "My parcel has not moved for 6 days, 物流一直没更新", "csrf_token": csrf},
            ),
            ("/console/review", None),
            ("/console/review?state=pending&language=en&category=not_received", None),
            ("/console/suggestions", None),
            ("/console/orders", None),
            (f"/console/orders?carrier={carrier.group(1)}", None),
            (f"/console/orders/{order_id}", None),
            ("/console/models", None),
            ("/console/monitoring", None),
            # another period: computed afresh once, with matplotlib already imported
            ("/console/monitoring?period=D", None),
        ]
        results = [measure(client, path, args.repeat, data) for path, data in pages]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    report = {"machine": machine(), "stored": stored, "repeat": args.repeat, "pages": results}
    width = max(len(r["page"]) for r in results)
    for r in results:
        print(
            f"{r['page']:<{width}}  p50 {r['p50_ms']:7.1f} ms  p95 {r['p95_ms']:7.1f} ms  "
            f"first {r['first_ms']:7.1f} ms  {r['kb']:6.1f} KB"
        )
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
