"""Several processes writing feedback to one database at once lose nothing (count check)."""

from __future__ import annotations

import multiprocessing

import sqlalchemy as sa

from tests.conftest import log_prediction
from triage.store import Store


def _write_feedback(url: str, pid: str, worker: int, n: int, out) -> None:
    """One process: `n` corrections, one transaction each; the ids acknowledged go to `out`."""
    store = Store(url)
    ids = []
    for i in range(n):
        row = store.add_feedback(pid, "other", f"process {worker} note {i}")
        ids.append(row["id"])
    out.put(ids)
    store.dispose()


def test_concurrent_writer_processes_lose_no_feedback(database_url):
    url = database_url
    store = Store(url)
    store.migrate()
    pid = log_prediction(store, "v2")
    context = multiprocessing.get_context("spawn")
    out = context.Queue()
    processes = [
        context.Process(target=_write_feedback, args=(url, pid, w, 150, out)) for w in range(4)
    ]
    for p in processes:
        p.start()
    acknowledged = [i for _ in processes for i in out.get(timeout=120)]
    for p in processes:
        p.join(timeout=120)
        assert p.exitcode == 0
    with store.engine.connect() as conn:
        stored = set(conn.execute(sa.text("SELECT id FROM feedback")).scalars())
        if store.url.get_backend_name() == "sqlite":
            assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
    assert len(acknowledged) == 600 and set(acknowledged) == stored
