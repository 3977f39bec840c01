"""What an order lookup costs a categorize request: the same request with and without a stored
order, in process through the Flask app (the whole request path but the network).

    .venv/bin/python benchmarks/cases_orders_latency.py [--models models] [--n 400] [--json]

Builds the app on the registry's champion models (run `make bootstrap` first) and a temporary
SQLite database holding the demo day of simulated orders (`triage bootstrap --demo-orders`'s),
then sends `POST /v1/cases/categorize` for texts of the corpus's held-out split, each text
twice in a random order: once alone, once naming a stored order (``"file": false``: the lookup,
the order's facts and risk, no case stored) and, as a third variant, naming an order and filing
the case (the lookup plus one write). Reports p50 and p95 of each variant and the p50
difference (target of issue 13: within 1 ms).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.cases_default_model import machine  # noqa: E402
from triage.corpus import load_corpus  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", type=Path, default=ROOT / "models")
    parser.add_argument("--n", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from api import create_app
    from triage.config import Settings
    from triage.orders.service import ensure_demo_orders
    from triage.store import Store

    folder = Path(tempfile.mkdtemp(prefix="cases-orders-latency-"))
    try:
        config = {"models_dir": args.models, "data_dir": folder, "order_history_cache": True}
        settings = Settings.from_env(config)
        ensure_demo_orders(settings)
        store = Store.from_settings(settings)
        token = store.create_key("predict", "latency")[1]
        order_ids = [
            r[0]
            for r in store.engine.connect().exec_driver_sql(
                "SELECT order_id FROM orders ORDER BY order_id"
            )
        ]
        store.dispose()
        app = create_app({**config, "rate_limit_per_minute": 10**9})
        client = app.test_client()
        headers = {"Authorization": f"Bearer {token}"}
        rng = np.random.default_rng(args.seed)
        corpus = load_corpus(ROOT / "data" / "corpus")
        texts = corpus[corpus["split"] == "test"]["text"].tolist()
        texts = [texts[i] for i in rng.permutation(len(texts))[: args.n]]
        picked = [order_ids[i] for i in rng.integers(len(order_ids), size=len(texts))]

        def send(body: dict) -> float:
            started = time.perf_counter()
            response = client.post("/v1/cases/categorize", json=body, headers=headers)
            elapsed = (time.perf_counter() - started) * 1000
            assert response.status_code == 200, response.get_json()
            return elapsed

        for text in texts[:20]:  # warm-up: the models, jieba, the history cache, SQLite pages
            send({"text": text})
            send({"text": text, "order_id": picked[0], "file": False})
        timings: dict[str, list[float]] = {"no order": [], "order lookup": [], "lookup + file": []}
        for text, order_id in zip(texts, picked, strict=True):
            variants = [
                ("no order", {"text": text}),
                ("order lookup", {"text": text, "order_id": order_id, "file": False}),
                ("lookup + file", {"text": text, "order_id": order_id}),
            ]
            for i in rng.permutation(len(variants)):
                name, body = variants[i]
                timings[name].append(send(body))
        report = {"machine": machine(), "texts": len(texts), "orders": len(order_ids)}
        for name, values in timings.items():
            ms = np.array(values)
            report[name] = {
                "p50_ms": round(float(np.percentile(ms, 50)), 2),
                "p95_ms": round(float(np.percentile(ms, 95)), 2),
            }
        report["p50 difference (lookup - none), ms"] = round(
            report["order lookup"]["p50_ms"] - report["no order"]["p50_ms"], 2
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key}: {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
