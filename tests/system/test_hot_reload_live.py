"""Hot reload under load: threads hammer a live app while the champion changes, and every
worker of a real `triage serve` switches without failing a request."""

import re
import threading
import time
from http.client import HTTPException

from api import create_app
from api.testing import ConformingClient
from tests.conftest import http, wait_for
from tests.test_hot_reload import PROBE
from triage.config import Settings


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


def test_every_gunicorn_worker_switches_without_failing_a_request(serve, tmp_path, two_versions):
    """`triage serve` with two workers, clients on fresh connections all along: a promotion and
    a rollback over HTTP reach both workers (their logs say so) and no request fails."""
    from triage.store import Store

    store = Store.from_settings(Settings.from_env({"data_dir": tmp_path / "var"}))
    store.migrate()
    predict = {"X-API-Key": store.create_key("predict")[1]}
    admin = {"X-API-Key": store.create_key("admin")[1]}
    store.dispose()
    served = serve(
        two_versions,
        tmp_path / "var",
        access_log=False,
        TRIAGE_MODEL_RELOAD_SECONDS="0.5",
        TRIAGE_RATE_LIMIT_PER_MINUTE="0",
    )
    base, log = served.base, served.log
    answers, errors, stop = [], [], threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                status, body = http(
                    "POST", f"{base}/v1/cases/categorize", body={"text": PROBE}, headers=predict
                )
                answers.append((status, body.get("model", {}).get("version"), body.get("category")))
            except (OSError, ValueError, HTTPException) as exc:  # recorded, not a dead thread
                errors.append(repr(exc))

    def reloaded_by_both(version):
        return len(served.loaded_by("cases", version, switched=True)) == 2

    assert wait_for(lambda: len(served.loaded_by("cases", "v2")) == 2, 60), log.read_text()
    threads = [threading.Thread(target=hammer) for _ in range(3)]
    try:
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
        served.stop()
    assert errors == [] and len(answers) > 20
    assert [a for a in answers if a[0] != 200] == []
    assert {(v, c) for _, v, c in answers} == {("v1", "not_received"), ("v2", "shipping_delay")}
    assert answers[-1][1] == "v2"
    assert len(set(re.findall(r"Booting worker with pid: (\d+)", log.read_text()))) == 2
