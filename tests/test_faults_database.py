"""The database locked, unavailable, coming and going, and written by several writers at once.

- Locked (another connection holds the write lock past the lock timeout) or unavailable (the
  SQLite file replaced by something that is not a database, the PostgreSQL database refusing
  connections): every operation that needs the database
  answers 503 ``database_unavailable`` with Retry-After, the public ones still answer, nothing is
  stored, and the service works again once the database is back.
- ``log_without_db``: categorize answers unlogged (``logged: false``) only when configured, and
  only for a key this worker checked against the database lately; everything else stays 503.
- While the database comes and goes, every acknowledged write (201 feedback, a prediction
  answered with ``logged: true``) is in the database afterwards.
- Several processes writing feedback to one database at once lose nothing (count check):
  tests/system/test_faults_database_processes.py.

Every test runs on SQLite and on PostgreSQL (`Outages` makes the faults of each). The service's
lock timeout (SQLite's busy timeout, PostgreSQL's lock_timeout) is 10 s; tests shorten it to
0.3 s on their own engine, so that a locked database is seen without waiting.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy import event

from tests.conftest import log_prediction, wait_for
from triage.store import Store, utcnow
from triage.store_tables import metadata as tables

SUGGESTION_ID = "sug_faults0000001"


def _order(order_id: str) -> dict:
    now = dt.datetime.now(dt.UTC)
    return {
        "order_id": order_id,
        "purchased_at": (now - dt.timedelta(days=1)).isoformat(),
        "promised_date": (now + dt.timedelta(days=3)).date().isoformat(),
    }


def _requests(pid: str) -> list[tuple[str, str, str | None, dict | None]]:
    """(method, path, role, body): a valid request of every operation of the document."""
    event = {"order_id": "FAULT-1", "time": utcnow().isoformat(), "event_type": "picked_up"}
    return [
        ("GET", "/healthz", None, None),
        ("GET", "/openapi.json", None, None),
        ("GET", "/docs", None, None),
        ("GET", "/readyz", None, None),
        ("POST", "/v1/cases/categorize", "predict", {"text": "my parcel never arrived"}),
        ("GET", "/v1/taxonomy", "predict", None),
        ("GET", "/v1/models", "predict", None),
        ("POST", "/v1/feedback", "analyst", {"prediction_id": pid, "category": "not_received"}),
        ("GET", "/v1/predictions", "analyst", None),
        ("GET", f"/v1/predictions/{pid}", "analyst", None),
        ("POST", "/v1/models/cases/promote", "admin", {"version": "v1"}),
        ("POST", "/v1/models/cases/rollback", "admin", None),
        ("GET", "/v1/monitoring", "analyst", None),
        ("POST", "/v1/orders/risk", "predict", {"order": _order("FAULT-9")}),
        ("POST", "/v1/orders", "analyst", {"orders": [_order("FAULT-2")]}),
        ("POST", "/v1/orders/events", "analyst", {"events": [event]}),
        ("GET", "/v1/suggestions", "predict", None),
        ("POST", f"/v1/suggestions/{SUGGESTION_ID}/accept", "predict", None),
        ("POST", f"/v1/suggestions/{SUGGESTION_ID}/dismiss", "predict", None),
    ]


def _short_lock_timeout(store: Store, ms: int = 300) -> None:
    """The store waits `ms` for a lock instead of the service's 10 s."""

    @event.listens_for(store.engine, "connect")
    def _timeout(dbapi_connection, _record):  # runs after the store's own settings
        if store.url.get_backend_name() == "sqlite":
            dbapi_connection.execute(f"PRAGMA busy_timeout = {ms}")
        else:
            dbapi_connection.execute(f"SET lock_timeout = {ms}")
            dbapi_connection.commit()

    store.engine.dispose()


class Outages:
    """The two faults of one test's database, SQLite file or PostgreSQL database.

    `locked()`: another connection holds the write lock (SQLite: BEGIN EXCLUSIVE; PostgreSQL:
    every table LOCKed IN EXCLUSIVE MODE, which lets plain reads through, as SQLite's WAL does),
    as a long writer or a migration would. `unavailable()`: the database is gone until the block
    ends (SQLite: the file replaced by bytes that are not a database; PostgreSQL: the database
    refuses connections and its open ones are cut, as a stopped server would).
    """

    def __init__(self, store: Store, postgres=None):
        self.store, self.postgres = store, postgres
        self.path = None if postgres else Path(store.url.database)

    @contextlib.contextmanager
    def locked(self):
        if self.postgres is None:
            other = sqlite3.connect(self.path, isolation_level=None, timeout=30)
            other.execute("BEGIN EXCLUSIVE")
            try:
                yield
            finally:
                other.execute("ROLLBACK")
                other.close()
            return
        engine = sa.create_engine(self.store.url)
        try:
            with engine.connect() as conn, conn.begin():
                names = ", ".join(t.name for t in tables.sorted_tables)
                conn.exec_driver_sql(f"LOCK TABLE {names} IN EXCLUSIVE MODE")
                yield  # rolled back when the block ends
        finally:
            engine.dispose()

    @contextlib.contextmanager
    def unavailable(self):
        store, path = self.store, self.path
        if self.postgres is not None:
            with self.postgres.down(store.url.database):
                yield
            return
        store.engine.dispose()
        saved = {p: p.read_bytes() for p in path.parent.glob(path.name + "*")}
        for p in saved:
            p.unlink()
        path.write_bytes(b"this is not an SQLite database, it is a fault" * 100)
        try:
            yield
        finally:
            store.engine.dispose()
            path.unlink()
            for p, data in saved.items():
                p.write_bytes(data)


def database_rows(store: Store) -> dict[str, list]:
    with store.engine.connect() as conn:
        return {
            t.name: sorted(map(repr, conn.execute(sa.select(t)).all()))
            for t in tables.sorted_tables
            if t.name != "api_key_usage"
        }


@pytest.fixture
def service(request, make_app, served_models, database_url):
    """An app on a file database (or a PostgreSQL one) with a prediction, an order and an open
    suggestion; its `Outages`."""
    postgres = None if database_url.startswith("sqlite") else request.getfixturevalue("postgres")

    def build(**settings):
        from triage.orders.data.schema import orders_from_records
        from triage.orders.service import OrderService
        from triage.orders.suggestions.policy import Suggestion

        app = make_app(models_dir=served_models, **settings)
        store = app.extensions["triage"].store
        keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
        pid = log_prediction(store, "v2")
        orders = OrderService(store)
        orders.orders.save(orders_from_records([_order("FAULT-1")]), None, utcnow())
        facts = {
            "order_id": "FAULT-1",
            "purchased_at": "2024-11-08T10:00:00+00:00",
            "promised_date": "2024-11-13",
            "carrier": "Panda Post",
            "last_event": "none",
        }
        orders.suggestions.add(
            Suggestion(
                SUGGESTION_ID,
                "FAULT-1",
                0.9,
                "shipping_delay",
                [],
                "草稿",
                "draft",
                utcnow(),
                facts=facts,
                model={"name": "risk", "version": "v1", "threshold": 0.5},
            )
        )
        _short_lock_timeout(store)
        return app, keys, pid, Outages(store, postgres)

    return build


def _send(client, method, path, role, body, keys):
    headers = {"Authorization": f"Bearer {keys[role]}"} if role else {}
    return client.open(path, method=method, json=body, headers=headers)


@pytest.mark.parametrize("fault", ("locked", "unavailable"))
def test_every_operation_that_needs_the_database_is_503_with_retry_after(service, fault):
    app, keys, pid, outages = service()
    store = app.extensions["triage"].store
    client = app.test_client()
    before = database_rows(store)
    outage = outages.locked() if fault == "locked" else outages.unavailable()
    answers = {}
    with outage:
        for method, url, role, body in _requests(pid):
            answers[(method, url)] = _send(client, method, url, role, body, keys)
    for (method, url), response in answers.items():
        if url in ("/healthz", "/openapi.json", "/docs"):
            assert response.status_code == 200, url
            continue
        if url == "/readyz" and fault == "locked":
            assert response.status_code == 200  # readers are not blocked by a writer
            continue
        assert response.status_code == 503, (method, url, response.get_json())
        assert response.headers["Retry-After"].isdigit()
        expected = "not_ready" if url == "/readyz" else "database_unavailable"
        assert response.get_json()["error"]["code"] == expected
    assert database_rows(store) == before  # nothing half-written
    # back to normal at once
    for method, url, role, body in _requests(pid)[4:6]:
        assert _send(client, method, url, role, body, keys).status_code == 200


@pytest.mark.parametrize("configured", (False, True))
def test_categorize_answers_unlogged_only_when_configured(service, configured):
    app, keys, pid, outages = service(log_without_db=configured)
    store = app.extensions["triage"].store
    client = app.test_client()
    text = {"text": "the parcel never arrived, order 112-4839201-7734512"}
    assert _send(client, "POST", "/v1/cases/categorize", "predict", text, keys).status_code == 200
    unseen = store.create_key("predict")[1]  # never used before the outage
    before = database_rows(store)
    with outages.locked():
        answer = _send(client, "POST", "/v1/cases/categorize", "predict", text, keys)
        stranger = client.post(
            "/v1/cases/categorize", json=text, headers={"Authorization": f"Bearer {unseen}"}
        )
        forged = client.post(
            "/v1/cases/categorize",
            json=text,
            headers={"Authorization": f"Bearer {keys['predict'][:-2]}AA"},
        )
        feedback = _send(
            client,
            "POST",
            "/v1/feedback",
            "analyst",
            {"prediction_id": pid, "category": "other"},
            keys,
        )
    if configured:
        assert answer.status_code == 200 and answer.get_json()["logged"] is False
        assert answer.get_json()["category"]
    else:
        assert answer.status_code == 503 and answer.headers["Retry-After"]
    for refused in (stranger, feedback):  # a key not checked lately; a write
        assert refused.status_code == 503 and refused.headers["Retry-After"], refused.get_json()
    # a forged secret is never answered from memory: 503 on SQLite (the lock keeps the key's
    # read out too: the request's transaction begins as a writer), 401 on PostgreSQL (the key
    # can still be read, and does not match)
    assert forged.status_code == (401 if outages.postgres else 503), forged.get_json()
    assert database_rows(store) == before
    again = _send(client, "POST", "/v1/cases/categorize", "predict", text, keys)
    assert again.status_code == 200 and again.get_json()["logged"] is True


def test_nothing_acknowledged_is_lost_while_the_database_comes_and_goes(service):
    """Writers run all along while the test takes the database away three times. Each outage
    lasts until the writers have met it (feedback answered 503, categorize answered unlogged)
    and each return until writes are acknowledged again: the faults happen, and are seen, on a
    machine however busy, instead of hoping a timed flap meets a request."""
    app, keys, pid, outages = service(log_without_db=True)
    store = app.extensions["triage"].store
    stop = threading.Event()
    acknowledged_feedback, logged_predictions, statuses = [], [], []
    unlogged = []
    lock = threading.Lock()

    def write(worker: int):
        client = app.test_client()
        i = 0
        while not stop.is_set():
            i += 1
            if i % 2:
                r = _send(
                    client,
                    "POST",
                    "/v1/feedback",
                    "analyst",
                    {"prediction_id": pid, "category": "other", "note": f"{worker}-{i}"},
                    keys,
                )
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 201:
                        acknowledged_feedback.append(r.get_json()["id"])
            else:
                r = _send(
                    client, "POST", "/v1/cases/categorize", "predict", {"text": f"late {i}"}, keys
                )
                with lock:
                    statuses.append(r.status_code)
                    if r.status_code == 200 and r.get_json()["logged"]:
                        logged_predictions.append(r.get_json()["prediction_id"])
                    elif r.status_code == 200:
                        unlogged.append(r.get_json()["prediction_id"])

    def counts():
        with lock:
            acknowledged = len(acknowledged_feedback) + len(logged_predictions)
            return acknowledged, statuses.count(503), len(unlogged)

    writers = [threading.Thread(target=write, args=(w,)) for w in range(3)]
    for t in writers:
        t.start()

    def writes_get_in():
        acknowledged = counts()[0]
        assert wait_for(lambda: counts()[0] >= acknowledged + 3, 120), "no write got in"

    def outage():
        """The write lock held until the writers have met it: two 503s, one unlogged answer."""
        _, refused, answered = counts()
        with outages.locked():
            assert wait_for(
                lambda: counts()[1] >= refused + 2 and counts()[2] >= answered + 1, 120
            ), "the outage was not observed"

    try:
        for _ in range(3):
            writes_get_in()  # before the first outage, and after each one
            outage()
        writes_get_in()
    finally:
        stop.set()
        for t in writers:
            t.join(60)
    assert set(statuses) <= {200, 201, 503}
    assert statuses.count(503) >= 6 and len(unlogged) >= 3 and 201 in statuses
    with store.engine.connect() as conn:
        feedback = set(conn.execute(sa.text("SELECT id FROM feedback")).scalars())
        predictions = set(conn.execute(sa.text("SELECT id FROM predictions")).scalars())
    assert set(acknowledged_feedback) <= feedback
    assert set(logged_predictions) <= predictions
    assert len(feedback) == len(acknowledged_feedback)  # and nothing refused got in
