"""Hot reload: a worker serves a new champion after a promotion or rollback without a restart,
never fails a request meanwhile, and keeps the last good model when the new one is refused."""

import gc
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from api import create_app
from api.serving import ModelSet
from api.testing import ConformingClient
from tests.conftest import http, wait_for
from triage.config import Settings
from triage.registry import Registry
from triage.taxonomy import load_taxonomy

#: v1 (tiny_model) says not_received, v2 (relabeled_model) cannot: answers tell versions apart
PROBE = "买家说包裹显示已签收但是一直没收到 the buyer never received the parcel"


def _models(root, **settings) -> ModelSet:
    models = ModelSet(Settings.from_env({"models_dir": root, **settings}), load_taxonomy())
    models.load()
    return models


def _category(models: ModelSet) -> str:
    return models.case_router().predict([PROBE])[0].category


def test_refresh_follows_promotion_and_rollback(two_versions):
    models = _models(two_versions)
    registry = Registry(two_versions)
    assert models.status() == {"cases": {"version": "v2"}}
    assert _category(models) == "shipping_delay"
    assert models.refresh() == []  # nothing changed: nothing loaded

    registry.promote("cases", "v1")
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v1"}}
    assert _category(models) == "not_received"

    registry.rollback("cases")
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v2"}}
    assert _category(models) == "shipping_delay"


def test_a_state_change_that_keeps_the_champion_loads_nothing(two_versions):
    models = _models(two_versions)
    served = models.case_router()
    Registry(two_versions).reject("cases", "v1", "worse on the frozen set")
    assert models.refresh() == []
    assert models.case_router() is served


def _break(root, version, fault):
    folder = root / "cases" / version
    if fault == "checksum":
        artifact = folder / "model.joblib"
        original = artifact.read_bytes()
        artifact.write_bytes(original[:-8] + b"\0" * 8)
        return lambda: artifact.write_bytes(original)
    meta_path = folder / "metadata.json"
    original = meta_path.read_text(encoding="utf-8")
    meta = json.loads(original)
    meta["libraries"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return lambda: meta_path.write_text(original, encoding="utf-8")


@pytest.mark.parametrize(
    ("fault", "message"),
    (("checksum", "SHA-256 does not match"), ("libraries", "trained with scikit-learn 0.24.2")),
)
def test_a_champion_that_fails_to_load_leaves_the_last_good_one_serving(
    make_app, two_versions, caplog, fault, message
):
    models = _models(two_versions)
    models.retry_seconds = 3600.0
    served = models.case_router()
    registry = Registry(two_versions)
    registry.promote("cases", "v1")  # checked and promoted, then the files go bad
    repair = _break(two_versions, "v1", fault)

    with caplog.at_level(logging.ERROR, logger="triage.api"):
        assert models.refresh() == ["cases"]
    assert models.case_router() is served and _category(models) == "shipping_delay"
    status = models.status()["cases"]
    assert status["version"] == "v2" and status["champion"] == "v1"
    assert message in status["reload_error"]
    assert "champion v1 not loaded, still serving v2" in caplog.text and message in caplog.text
    assert models.refresh() == []  # no retry storm: the next retry waits for retry_seconds

    # /readyz stays ready (the old model serves) and says what failed
    app = make_app(models_dir=two_versions)
    app.extensions["triage"].models = models
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "ready" and body["models"]["cases"] == status

    repair()
    models.retry_seconds = 0.0
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v1"}}
    assert _category(models) == "not_received"


def test_rolling_back_to_the_served_version_clears_the_error_without_a_load(two_versions):
    models = _models(two_versions)
    served = models.case_router()
    registry = Registry(two_versions)
    registry.promote("cases", "v1")
    _break(two_versions, "v1", "checksum")
    models.refresh()
    assert "reload_error" in models.status()["cases"]
    (two_versions / "cases" / "registry.json").write_text(
        json.dumps({**registry.state("cases"), "champion": "v2"}), encoding="utf-8"
    )
    assert models.refresh() == []
    assert models.status() == {"cases": {"version": "v2"}} and models.case_router() is served


def test_an_unreadable_registry_state_keeps_the_model(two_versions):
    models = _models(two_versions)
    models.retry_seconds = 3600.0
    (two_versions / "cases" / "registry.json").write_text("{not json", encoding="utf-8")
    assert models.refresh() == ["cases"]
    status = models.status()["cases"]
    assert status["version"] == "v2" and "unreadable registry state" in status["reload_error"]
    assert models.ready


def test_a_worker_started_before_any_champion_becomes_ready_after_the_first(tmp_path, two_versions):
    empty = tmp_path / "empty-registry"
    models = _models(empty)
    assert not models.ready and "no champion" in models.status()["cases"]["error"]
    (empty / "cases").mkdir(parents=True)
    import shutil

    shutil.copytree(two_versions / "cases" / "v1", empty / "cases" / "v1")
    Registry(empty).promote("cases", "v1")
    assert models.refresh() == ["cases"]
    assert models.ready and models.status() == {"cases": {"version": "v1"}}


def test_the_watcher_thread_reloads_and_stops(two_versions):
    models = _models(two_versions)
    models.watch(0.05)
    thread = models._watcher
    assert thread.is_alive() and thread.daemon
    try:
        Registry(two_versions).promote("cases", "v1")
        assert wait_for(lambda: models.status()["cases"].get("version") == "v1", 30, 0.02)
        Registry(two_versions).rollback("cases")
        assert wait_for(lambda: models.status()["cases"].get("version") == "v2", 30, 0.02)
    finally:
        models.stop()
    assert not thread.is_alive()


def test_the_watcher_ends_with_its_model_set(two_versions):
    models = _models(two_versions)
    models.watch(0.01)
    thread = models._watcher
    del models
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()


@pytest.mark.slow
def test_requests_never_fail_while_the_champion_changes(tmp_path, two_versions):
    """Threads hammer categorize while an admin promotes and rolls back over HTTP three times:
    every request succeeds, each answer comes from one whole model (its category matches its
    version), and requests started after a switch is seen get the new version."""
    app = create_app(
        {
            "models_dir": two_versions,
            "data_dir": tmp_path / "var",
            "model_reload_seconds": 0.05,
            "rate_limit_per_minute": 0,
            "TESTING": True,
        }
    )
    app.test_client_class = ConformingClient
    store = app.extensions["triage"].store
    predict = {"X-API-Key": store.create_key("predict")[1]}
    admin = {"X-API-Key": store.create_key("admin")[1]}
    answers: list[tuple[float, float, int, str | None, str | None]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer():
        client = app.test_client()
        try:
            while not stop.is_set():
                started = time.monotonic()
                response = client.post(
                    "/v1/cases/categorize", json={"text": PROBE}, headers=predict
                )
                body = response.get_json()
                answers.append(
                    (
                        started,
                        time.monotonic(),
                        response.status_code,
                        body.get("model", {}).get("version"),
                        body.get("category"),
                    )
                )
        except BaseException as exc:  # noqa: BLE001 - reported by the main thread
            errors.append(exc)

    def serving(version):
        """Wait until a request is answered by `version`; return when that answer came (the
        swap happened before it, so any request started later must get `version`)."""
        client = app.test_client()

        def probe():
            body = client.post("/v1/cases/categorize", json={"text": PROBE}, headers=predict)
            probe.answered = time.monotonic()
            return body.get_json()["model"]["version"] == version

        assert wait_for(probe, timeout=60, step=0.02), f"{version} never served"
        return probe.answered

    threads = [threading.Thread(target=hammer) for _ in range(2)]
    for t in threads:
        t.start()
    admin_client = app.test_client()
    switches = []  # (version, when it was asked for, when it was first seen served)
    try:
        for _ in range(3):
            time.sleep(0.3)
            asked = time.monotonic()
            promoted = admin_client.post(
                "/v1/models/cases/promote", json={"version": "v1"}, headers=admin
            )
            assert promoted.status_code == 200, promoted.get_json()
            switches.append(("v1", asked, serving("v1")))
            time.sleep(0.3)
            asked = time.monotonic()
            rolled = admin_client.post("/v1/models/cases/rollback", headers=admin)
            assert rolled.status_code == 200 and rolled.get_json()["champion"] == "v2"
            switches.append(("v2", asked, serving("v2")))
        time.sleep(0.3)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        app.extensions["triage"].models.stop()
    assert errors == []
    assert len(answers) > 50
    assert [a for a in answers if a[2] != 200] == []
    categories = {version: {c for *_, v, c in answers if v == version} for version in ("v1", "v2")}
    assert categories == {"v1": {"not_received"}, "v2": {"shipping_delay"}}
    # once a switch was seen, every request started later and answered before the next change
    # was asked for got it
    ends = [asked for _, asked, _ in switches[1:]] + [float("inf")]
    for (version, _, seen), end in zip(switches, ends, strict=True):
        between = {v for started, ended, _, v, _ in answers if seen < started and ended < end}
        assert between == {version}, (version, between)


@pytest.mark.slow
def test_every_gunicorn_worker_switches_without_failing_a_request(tmp_path, two_versions):
    """`triage serve` with two workers, clients on fresh connections all along: a promotion and
    a rollback over HTTP reach both workers (their logs say so) and no request fails."""
    from triage.store import Store

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {
        **os.environ,
        "TRIAGE_DATA_DIR": str(tmp_path / "var"),
        "TRIAGE_MODELS_DIR": str(two_versions),
        "TRIAGE_WORKERS": "2",
        "TRIAGE_MODEL_RELOAD_SECONDS": "0.5",
        "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
    }
    store = Store.from_settings(Settings.from_env({"data_dir": tmp_path / "var"}))
    store.migrate()
    predict = {"X-API-Key": store.create_key("predict")[1]}
    admin = {"X-API-Key": store.create_key("admin")[1]}
    store.dispose()
    script = Path(sys.executable).with_name("triage")
    log = tmp_path / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [str(script), "serve", "--port", str(port), "--no-access-log"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    answers, errors, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                status, body = http(
                    "POST", f"{base}/v1/cases/categorize", body={"text": PROBE}, headers=predict
                )
                answers.append((status, body.get("model", {}).get("version"), body.get("category")))
            except (OSError, ValueError) as exc:
                errors.append(repr(exc))

    def reloaded_by_both(version):
        found = re.findall(
            rf"\[(\d+)\] \[INFO\] triage\.api: model cases@{version} loaded .*\(was",
            log.read_text(),
        )
        return len(set(found)) == 2

    threads = []
    try:
        assert wait_for(lambda: _ready(base), timeout=180, step=0.5), log.read_text()
        threads = [threading.Thread(target=hammer) for _ in range(3)]
        for t in threads:
            t.start()
        promote = f"{base}/v1/models/cases/promote"
        assert http("POST", promote, body={"version": "v1"}, headers=admin)[0] == 200
        assert wait_for(lambda: reloaded_by_both("v1"), timeout=120, step=0.02), log.read_text()
        assert http("POST", f"{base}/v1/models/cases/rollback", headers=admin)[0] == 200
        assert wait_for(lambda: reloaded_by_both("v2"), timeout=120, step=0.02), log.read_text()
        time.sleep(1)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert errors == [] and len(answers) > 20
    assert [a for a in answers if a[0] != 200] == []
    assert {(v, c) for _, v, c in answers} == {("v1", "not_received"), ("v2", "shipping_delay")}
    assert answers[-1][1] == "v2"
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))) == 2


def _ready(base):
    try:
        return http("GET", f"{base}/readyz")[0] == 200
    except OSError:
        return False
