"""Many writers through a real `triage serve` with 4 gunicorn workers, on SQLite and on
PostgreSQL: 8 clients correcting predictions and ingesting orders at once store every
acknowledged write exactly once, and the rate limit, counted in the database across workers,
lets exactly its number of requests through."""

from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from tests.conftest import http, log_prediction
from tests.test_faults_database import _order  # an open order purchased yesterday
from triage.store import Store


def _run(clients) -> None:
    threads = [threading.Thread(target=client) for client in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)


def test_eight_clients_four_workers_store_every_write_once_and_count_exactly(
    serve, tmp_path, served_models, database_url
):
    limit = 60
    store = Store(database_url)
    store.migrate()
    writers = [store.create_key("analyst")[1] for _ in range(8)]  # one key per client
    pid = log_prediction(store, "v2")
    served = serve(
        served_models,
        tmp_path / "var",
        workers=4,
        access_log=False,
        TRIAGE_DATABASE_URL=database_url,
        TRIAGE_RATE_LIMIT_PER_MINUTE=str(limit),
    )
    feedback, orders, failures = [], [], []
    lock = threading.Lock()

    def corrections(token: str, n: int = 40):
        for i in range(n):
            body = {"prediction_id": pid, "category": "other", "note": f"{token[-6:]} {i}"}
            status, answer = http("POST", f"{served.base}/v1/feedback", token, body)
            with lock:
                (feedback.append(answer["id"]) if status == 201 else failures.append(answer))

    def ingests(token: str, client: int, batches: int = 10):
        for b in range(batches):
            batch = [_order(f"C{client}-{b}-{i}") for i in range(5)]
            status, answer = http("POST", f"{served.base}/v1/orders", token, {"orders": batch})
            with lock:
                if status == 200:
                    orders.extend(o["order_id"] for o in batch)
                else:
                    failures.append(answer)

    _run(
        [lambda t=t: corrections(t) for t in writers[:4]]
        + [lambda t=t, c=c: ingests(t, c) for c, t in enumerate(writers[4:])]
    )
    assert failures == []
    assert len(feedback) == 160 and len(orders) == 200
    with store.engine.connect() as conn:
        stored = conn.execute(sa.text("SELECT id FROM feedback")).scalars().all()
        stored_orders = conn.execute(sa.text("SELECT order_id FROM orders")).scalars().all()
    assert sorted(stored) == sorted(feedback)  # each acknowledged correction, once
    assert sorted(stored_orders) == sorted(orders)

    # the rate limit: 8 clients x 15 requests on one key within one minute window (a burst
    # that straddled two windows is sent again, on a fresh key)
    for _ in range(3):
        metered, window, statuses = store.create_key("predict")[1], time.time() // 60, []

        def taxonomy(token=metered, n=15, statuses=statuses):
            for _ in range(n):
                status, _ = http("GET", f"{served.base}/v1/taxonomy", token)
                with lock:
                    statuses.append(status)

        _run([taxonomy] * 8)
        if time.time() // 60 == window:
            break
    assert sorted(set(statuses)) == [200, 429] and statuses.count(200) == limit, statuses
    assert statuses.count(429) == 8 * 15 - limit
    served.stop()
    store.dispose()
