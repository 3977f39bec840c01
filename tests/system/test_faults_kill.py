"""SIGKILL at the worst moments, a tampered artifact, and several workers writing at once,
against a real `triage serve` (gunicorn, loopback).

- Training, saving and promotion are killed inside a real ``triage train cases --register
  cases --promote`` (a child process that SIGKILLs itself at a chosen point, like a power cut or
  the OOM killer: no cleanup runs). Afterwards every registered version loads, the champion and
  registry.json are unchanged, and the running service still serves the last good model.
- A batch of feedback writes is cut by SIGKILL of one gunicorn worker, of the whole server, and
  of a writer process: every acknowledged record is in the database afterwards, which passes
  SQLite's integrity check, and the service answers again (a new worker, a restart).
- A champion whose artifact was changed is refused (SHA-256): running workers keep serving the
  previous version and say why; a freshly started server refuses to serve it (not ready, 503)
  until an operator rolls back, and then serves the previous version without a restart.
- Three workers, four clients: every correction acknowledged is stored, and nothing else.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from http.client import HTTPException

import psutil
import pytest
import sqlalchemy as sa

from tests.conftest import http, log_prediction, wait_for
from triage.registry import STATE, Registry, _write_json_atomic
from triage.store import Store

pytestmark = pytest.mark.timeout(600)

#: v1 (tiny_model) says not_received for this text, v2 (relabeled_model) cannot
PROBE = "买家说包裹显示已签收但是一直没收到 the buyer never received the parcel"


def prepare_database(url) -> tuple[dict[str, str], str]:
    """Keys per role and one logged prediction to correct, in the database at `url` (or the
    service's default SQLite file under a data folder)."""
    store = Store(url if isinstance(url, str) else f"sqlite:///{url / 'triage.db'}")
    store.migrate()
    keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
    pid = log_prediction(store, "v2")
    store.dispose()
    return keys, pid


def stored_feedback(url: str) -> set[str]:
    """The ids of the stored corrections (after SQLite's integrity check)."""
    store = Store(url)
    try:
        with store.engine.connect() as conn:
            if store.url.get_backend_name() == "sqlite":
                assert conn.execute(sa.text("PRAGMA integrity_check")).scalar() == "ok"
            return set(conn.execute(sa.text("SELECT id FROM feedback")).scalars())
    finally:
        store.dispose()


def serves(served, version: str, token: str) -> bool:
    """Whether /readyz and a categorization both say `version`, with no reload error."""
    status, ready = http("GET", f"{served.base}/readyz")
    cases = ready.get("models", {}).get("cases", {})
    if status != 200 or cases != {"version": version}:
        return False
    status, answer = http("POST", f"{served.base}/v1/cases/categorize", token, {"text": PROBE})
    return status == 200 and answer["model"]["version"] == version


# --- SIGKILL during training, saving and promotion --------------------------------------------
CHILD = textwrap.dedent(
    """
    import os, signal, sys
    import triage.cases.commands as commands
    import triage.registry as registry
    from triage.cli import main

    models, data, stage = sys.argv[1:4]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if stage == "training":  # during cross-validation, the third progress step
        make = commands._progress_bar

        def bar(total, label):
            handle, step = make(total, label)
            calls = []

            def killing(message):
                calls.append(message)
                step(message)
                if len(calls) == 3:
                    die()

            return handle, killing

        commands._progress_bar = bar
    elif stage == "saving":  # the artifact written whole, killed before its metadata
        dump = registry.joblib.dump

        def dump_then_die(value, filename, **kwargs):
            dump(value, filename, **kwargs)
            die()

        registry.joblib.dump = dump_then_die
    elif stage in ("promotion-write", "promotion-rename"):
        promote = registry.Registry.promote

        def promote_then_die(self, name, version, reason="promoted"):
            if stage == "promotion-write":  # half of the new registry.json on disk
                def dump(document, fh, **kwargs):
                    fh.write('{"champion": "' + version + '", "hist')
                    fh.flush()
                    die()

                registry.json.dump = dump
            else:  # the new state written whole, killed before the rename
                registry.os.replace = die
            return promote(self, name, version, reason)

        registry.Registry.promote = promote_then_die
    main(["--models-dir", models, "train", "cases", "--data", data, "--register", "cases",
          "--promote"])
    raise SystemExit("the kill did not happen")
    """
)


@pytest.fixture(scope="module")
def running(tmp_path_factory, served_models_dir, serve, small_cases):
    """A server (2 workers, reload every 0.5 s) on its own registry copy, and training data."""
    import shutil

    root = tmp_path_factory.mktemp("kill")
    models = root / "models"
    shutil.copytree(served_models_dir, models, ignore=shutil.ignore_patterns(".lock"))
    keys, pid = prepare_database(root / "var")
    data = root / "cases.csv"
    small_cases[["text", "category"]].to_csv(data, index=False)
    served = serve(models, root / "var", TRIAGE_MODEL_RELOAD_SECONDS="0.5")
    return served, models, keys, data


@pytest.mark.parametrize("stage", ("training", "saving", "promotion-write", "promotion-rename"))
def test_sigkill_of_training_or_promotion_leaves_the_last_good_model_served(running, stage):
    served, models, keys, data = running
    registry = Registry(models)
    before = {
        "versions": [m["version"] for m in registry.versions("cases")],
        "state": (models / "cases" / STATE).read_bytes(),
        "stamp": registry.stamp("cases"),
    }
    assert serves(served, "v2", keys["predict"])
    child = subprocess.run(
        [sys.executable, "-c", CHILD, str(models), str(data), stage],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    # the registry: every version loadable, the same champion and registry.json; a version
    # written whole before the kill in its promotion is registered, not promoted
    after = {m["version"]: m["status"] for m in registry.versions("cases")}
    new = [v for v in after if v not in before["versions"]]
    assert len(new) == (0 if stage in ("training", "saving") else 1)
    assert all(after[v] == "available" for v in new)
    for version in after:
        assert registry.load("cases", version).version == version
    assert (models / "cases" / STATE).read_bytes() == before["state"]
    assert registry.stamp("cases") == before["stamp"] and registry.champion("cases") == "v2"
    leftovers = [p.name for p in (models / "cases").iterdir() if p.name.startswith(".")]
    assert all(".tmp-" in n or n.startswith(f".{STATE}.") or n == ".lock" for n in leftovers)
    # the service: still the last good model, after more than two reload intervals
    time.sleep(1.5)
    assert serves(served, "v2", keys["predict"]), served.log.read_text()[-2000:]
    assert served.process.poll() is None


# --- SIGKILL during a batch of feedback writes ------------------------------------------------
def _feedback_clients(base, token, pid, n_threads, per_thread, stop=None):
    """Threads posting corrections; returns (threads, acknowledged ids, failures)."""
    acknowledged, failures = [], []
    lock = threading.Lock()

    def client(worker):
        for i in range(per_thread):
            if stop is not None and stop.is_set():
                return
            body = {"prediction_id": pid, "category": "other", "note": f"client {worker} #{i}"}
            try:
                status, answer = http("POST", f"{base}/v1/feedback", token, body, timeout=15)
            # the connection died with the process: refused, reset, or cut in the middle of an
            # answer (IncompleteRead, an HTTPException: its thread died with it once, the rest
            # of its requests unsent, and the counts below came out short)
            except (OSError, ValueError, HTTPException) as exc:
                with lock:
                    failures.append(repr(exc))
                continue
            with lock:
                if status == 201:
                    acknowledged.append(answer["id"])
                else:
                    failures.append(status)

    threads = [threading.Thread(target=client, args=(w,)) for w in range(n_threads)]
    for t in threads:
        t.start()
    return threads, acknowledged, failures


def _server(serve, tmp_path, served_models, database_url, workers=2):
    keys, pid = prepare_database(database_url)
    served = serve(
        served_models,
        tmp_path / "var",
        workers=workers,
        access_log=False,
        TRIAGE_DATABASE_URL=database_url,
    )
    return served, keys, pid


def test_sigkill_of_a_worker_mid_batch_loses_no_acknowledged_feedback(
    serve, tmp_path, served_models, database_url
):
    served, keys, pid = _server(serve, tmp_path, served_models, database_url)
    workers = psutil.Process(served.process.pid).children()
    assert len(workers) == 2
    threads, acknowledged, failures = _feedback_clients(served.base, keys["analyst"], pid, 4, 60)
    assert wait_for(lambda: len(acknowledged) >= 40, timeout=60)
    os.kill(workers[0].pid, signal.SIGKILL)
    for t in threads:
        t.join(120)
    assert wait_for(lambda: len(psutil.Process(served.process.pid).children()) == 2, 60)
    assert wait_for(lambda: http("GET", f"{served.base}/readyz")[0] == 200, 60)
    stored = stored_feedback(database_url)
    assert set(acknowledged) <= stored
    # a sync worker answers one request at a time: the one it was answering when killed may
    # have been committed without its 201 going out (the client saw a failure), nothing more
    assert len(stored - set(acknowledged)) <= 1 and len(stored) <= len(acknowledged) + len(failures)
    assert len(acknowledged) + len(failures) == 240 and len(acknowledged) > 200
    served.stop()


def test_sigkill_of_the_whole_server_mid_batch_loses_no_acknowledged_feedback(
    serve, tmp_path, served_models, database_url
):
    served, keys, pid = _server(serve, tmp_path, served_models, database_url)
    stop = threading.Event()
    threads, acknowledged, failures = _feedback_clients(
        served.base, keys["analyst"], pid, 4, 10_000, stop
    )
    assert wait_for(lambda: len(acknowledged) >= 60, timeout=60)
    served.stop(signal.SIGKILL)  # master and workers at once, mid-request
    stop.set()
    for t in threads:
        t.join(120)
    assert failures  # requests were in flight
    stored = stored_feedback(database_url)
    assert set(acknowledged) <= stored
    # at most the requests cut between commit and answer are stored unacknowledged
    assert len(stored - set(acknowledged)) <= 4
    again = serve(
        served_models, tmp_path / "var", access_log=False, TRIAGE_DATABASE_URL=database_url
    )
    status, logged = http("GET", f"{again.base}/v1/predictions/{pid}", keys["analyst"])
    assert status == 200 and {f["id"] for f in logged["feedback"]} == stored
    assert serves(again, "v2", keys["predict"])
    again.stop()


WRITER = textwrap.dedent(
    """
    import sys
    from triage.store import Store
    store = Store(sys.argv[1])
    for i in range(100000):
        row = store.add_feedback(sys.argv[2], "other", f"note {i}")
        print(row["id"], flush=True)  # acknowledged: committed
    """
)


def test_sigkill_of_a_writer_process_mid_batch_loses_no_acknowledged_feedback(database_url):
    _, pid = prepare_database(database_url)
    url = database_url
    child = subprocess.Popen(
        [sys.executable, "-c", WRITER, url, pid], stdout=subprocess.PIPE, text=True
    )
    acknowledged = []
    for line in child.stdout:
        acknowledged.append(line.strip())
        if len(acknowledged) == 300:
            child.kill()
            break
    child.wait(timeout=60)
    acknowledged += [line.strip() for line in child.stdout if line.strip()]
    assert child.returncode == -signal.SIGKILL
    stored = stored_feedback(database_url)
    assert set(acknowledged) <= stored and len(stored - set(acknowledged)) <= 1


def test_three_workers_four_clients_store_every_correction_once(
    serve, tmp_path, served_models, database_url
):
    served, keys, pid = _server(serve, tmp_path, served_models, database_url, workers=3)
    threads, acknowledged, failures = _feedback_clients(served.base, keys["analyst"], pid, 4, 50)
    for t in threads:
        t.join(300)
    assert failures == [] and len(acknowledged) == 200
    assert stored_feedback(database_url) == set(acknowledged)
    served.stop()


# --- a tampered artifact ----------------------------------------------------------------------
def _tamper_and_make_champion(models, version: str) -> None:
    """Change bytes of `version`'s artifact (same size), then make it the champion by writing
    registry.json directly, as a hand edit or a copied folder would (promote refuses it)."""
    artifact = models / "cases" / version / "model.joblib"
    data = artifact.read_bytes()
    artifact.write_bytes(data[:-16] + bytes(b ^ 0xFF for b in data[-16:]))
    state = Registry(models).state("cases")
    state["champion"] = version
    state["history"].append({"version": version, "action": "hand edit", "at": "2026-01-01"})
    _write_json_atomic(models / "cases" / STATE, state)


def test_a_tampered_champion_is_refused_and_the_previous_version_served(
    serve, tmp_path, served_models
):
    keys, _ = prepare_database(tmp_path / "var")
    served = serve(served_models, tmp_path / "var", TRIAGE_MODEL_RELOAD_SECONDS="0.5")
    # both workers serve v2 before the tampering (one booting after it would have no good model)
    assert wait_for(lambda: len(served.loaded_by("cases", "v2")) == 2, 60), served.log.read_text()
    _tamper_and_make_champion(served_models, "v1")

    def refused() -> bool:
        status, ready = http("GET", f"{served.base}/readyz")
        cases = ready.get("models", {}).get("cases", {}) if status == 200 else {}
        return cases.get("champion") == "v1" and cases.get("version") == "v2"

    # both workers refuse it (each answers /readyz in turn; ask a few times)
    assert wait_for(lambda: all(refused() for _ in range(6)), timeout=60), served.log.read_text()
    status, ready = http("GET", f"{served.base}/readyz")
    assert "SHA-256 does not match" in ready["models"]["cases"]["reload_error"]
    status, answer = http(
        "POST", f"{served.base}/v1/cases/categorize", keys["predict"], {"text": PROBE}
    )
    assert status == 200 and answer["model"]["version"] == "v2"
    assert answer["category"] == "shipping_delay"  # v2's answer; v1 would say not_received
    log = served.log.read_text()
    assert "champion v1 not loaded, still serving v2" in log
    # a server started now has no last good model in memory: it refuses to serve v1
    fresh = serve(served_models, tmp_path / "var", ready=False, TRIAGE_MODEL_RELOAD_SECONDS="0.5")
    status, body = http("GET", f"{fresh.base}/readyz")
    assert status == 503 and "SHA-256" in body["error"]["message"]
    status, body = http(
        "POST", f"{fresh.base}/v1/cases/categorize", keys["predict"], {"text": PROBE}
    )
    assert status == 503 and body["error"]["code"] == "not_ready"
    # the operator rolls back: both servers serve v2, the fresh one without a restart
    rolled = subprocess.run(
        [
            sys.executable,
            "-m",
            "triage.cli",
            "--models-dir",
            str(served_models),
            "models",
            "rollback",
            "cases",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rolled.returncode == 0 and "champion is now v2" in rolled.stdout, rolled.stderr
    for server in (served, fresh):
        assert wait_for(
            lambda s=server: all(serves(s, "v2", keys["predict"]) for _ in range(6)), 60
        )
    served.stop()
    fresh.stop()
