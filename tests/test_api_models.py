"""The registry over HTTP: versions and their status, promote and rollback for admins, and the
drift report for analysts; every answer checked against the OpenAPI document."""

import errno
import shutil

import pytest

import triage.registry
from api import create_app
from api.testing import ConformingClient
from triage.errors import StoreError
from triage.registry import Registry

PROMOTE = "/v1/models/cases/promote"
ROLLBACK = "/v1/models/cases/rollback"


@pytest.fixture
def app(make_app, two_versions):
    return make_app(models_dir=two_versions)


def _cases(client, auth):
    models = client.get("/v1/models", headers=auth()).get_json()["models"]
    return next(m for m in models if m["name"] == "cases")


def _history(root):
    return Registry(root).state("cases")["history"]


def test_models_list_every_version_with_its_status(client, auth, two_versions):
    Registry(two_versions).reject("cases", "v1", "macro-F1 dropped by 0.03")
    cases = _cases(client, auth)
    assert cases["version"] == "v2" and cases["versions"] == 2
    by_version = {v["version"]: v for v in cases["registered"]}
    assert [v["version"] for v in cases["registered"]] == ["v1", "v2"]
    assert by_version["v2"]["status"] == "champion"
    assert by_version["v1"]["status"] == "rejected"
    assert by_version["v1"]["rejected_reason"] == "macro-F1 dropped by 0.03"
    assert by_version["v2"]["headline"] == {"accuracy": 0.5, "macro_f1": 0.5}
    assert by_version["v2"]["kind"] == "case_classifier"
    assert by_version["v2"]["last_promoted_at"] >= by_version["v1"]["last_promoted_at"]


def test_promote_and_rollback_round_trip(client, auth, api_keys, two_versions):
    promoted = client.post(PROMOTE, json={"version": "v1"}, headers=auth("admin"))
    assert promoted.status_code == 200
    change = promoted.get_json()
    assert (change["action"], change["champion"], change["previous"]) == ("promote", "v1", "v2")
    assert change["reload_seconds"] == 2.0 and change["at"].endswith("+00:00")
    assert Registry(two_versions).champion("cases") == "v1"
    statuses = {v["version"]: v["status"] for v in _cases(client, auth)["registered"]}
    assert statuses == {"v1": "champion", "v2": "available"}
    key_id = api_keys["admin"].split("_")[1]
    assert _history(two_versions)[-1]["action"] == f"promoted over HTTP by key {key_id}"

    rolled = client.post(ROLLBACK, headers=auth("admin"))
    assert rolled.status_code == 200
    change = rolled.get_json()
    assert (change["action"], change["champion"], change["previous"]) == ("rollback", "v2", "v1")
    assert Registry(two_versions).champion("cases") == "v2"
    assert _history(two_versions)[-1]["action"] == f"rollback from v1 (over HTTP by key {key_id})"
    assert _cases(client, auth)["version"] == "v2"


def test_this_worker_serves_what_was_promoted(tmp_path, two_versions):
    """With the real loader: after a promotion over HTTP the worker serves the new champion."""
    app = create_app(
        {"models_dir": two_versions, "data_dir": tmp_path / "var", "model_reload_seconds": 0}
    )
    app.test_client_class = ConformingClient
    client = app.test_client()
    store = app.extensions["triage"].store
    admin = {"X-API-Key": store.create_key("admin")[1]}
    text = {"text": "买家说包裹显示已签收但是一直没收到"}

    def served():
        body = client.post("/v1/cases/categorize", json=text, headers=admin).get_json()
        return body["model"]["version"], body["category"]

    assert served() == ("v2", "shipping_delay")
    assert client.post(PROMOTE, json={"version": "v1"}, headers=admin).status_code == 200
    assert app.extensions["triage"].models.refresh() == ["cases"]
    assert served() == ("v1", "not_received")
    models = client.get("/v1/models", headers=admin).get_json()["models"]
    assert next(m for m in models if m["name"] == "cases")["serving_version"] == "v1"


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    (
        ("/v1/models/nope/promote", {"version": "v1"}, 404, "model_not_found"),
        ("/v1/models/nope/rollback", None, 404, "model_not_found"),
        ("/v1/models/..cases/rollback", None, 404, "model_not_found"),
        (PROMOTE, {"version": "v9"}, 404, "version_not_found"),
        (PROMOTE, {"version": "../cases/v1"}, 422, "invalid_value"),
        (PROMOTE, {"version": ".hidden"}, 422, "invalid_value"),
        (PROMOTE, {"version": ""}, 422, "invalid_value"),
        (PROMOTE, {}, 400, "missing_field"),
        (PROMOTE, {"version": 1}, 400, "wrong_type"),
        (PROMOTE, {"version": "v1", "force": True}, 400, "unknown_field"),
    ),
)
def test_bad_requests_change_nothing(client, auth, two_versions, path, body, status, code):
    before = (two_versions / "cases" / "registry.json").read_bytes()
    kwargs = {"json": body} if body is not None else {}
    response = client.post(path, headers=auth("admin"), **kwargs)
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code
    assert (two_versions / "cases" / "registry.json").read_bytes() == before


def test_a_corrupted_version_is_not_promoted(client, auth, two_versions):
    artifact = two_versions / "cases" / "v1" / "model.joblib"
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    response = client.post(PROMOTE, json={"version": "v1"}, headers=auth("admin"))
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "model_integrity" and "SHA-256 does not match" in error["message"]
    assert Registry(two_versions).champion("cases") == "v2"
    rolled = client.post(ROLLBACK, headers=auth("admin"))  # v1 is also the rollback target
    assert rolled.status_code == 409 and rolled.get_json()["error"]["code"] == "model_integrity"
    assert Registry(two_versions).champion("cases") == "v2"


def test_rollback_needs_an_earlier_champion(make_app, auth, tmp_path, two_versions):
    single = tmp_path / "single"
    shutil.copytree(two_versions / "cases" / "v1", single / "cases" / "v1")
    app = make_app(models_dir=single)
    client = app.test_client()
    token = app.extensions["triage"].store.create_key("admin")[1]
    admin = {"X-API-Key": token}
    response = client.post(ROLLBACK, headers=admin)
    assert response.status_code == 409 and response.get_json()["error"]["code"] == "no_champion"
    assert client.post(PROMOTE, json={"version": "v1"}, headers=admin).status_code == 200
    response = client.post(ROLLBACK, headers=admin)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "no_earlier_champion"


def test_an_unwritable_registry_is_503(client, auth, two_versions, monkeypatch):
    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system")

    monkeypatch.setattr(triage.registry, "_write_json_atomic", read_only)
    response = client.post(PROMOTE, json={"version": "v1"}, headers=auth("admin"))
    assert response.status_code == 503 and response.headers["Retry-After"]
    error = response.get_json()["error"]
    assert error["code"] == "registry_unavailable" and "Read-only" in error["message"]
    assert Registry(two_versions).champion("cases") == "v2"


def test_the_database_down_is_503_for_admin_calls(app, client, auth, two_versions, monkeypatch):
    headers = auth("admin")

    def down(*args, **kwargs):
        raise StoreError("database unavailable: disk I/O error")

    monkeypatch.setattr(app.extensions["triage"].store, "authenticate_and_count", down)
    for response in (
        client.post(PROMOTE, json={"version": "v1"}, headers=headers),
        client.post(ROLLBACK, headers=headers),
    ):
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert response.get_json()["error"]["code"] == "database_unavailable"
    assert Registry(two_versions).champion("cases") == "v2"


# --- GET /v1/monitoring ------------------------------------------------------------------------
TEXTS = [
    "我的包裹三周了还没到",
    "the refund for my returned shoes never showed up",
    "店铺被通知侵权下架了",
    "payment failed twice but I was charged",
]


def test_monitoring_reports_drift_of_the_prediction_log(client, auth):
    batch = {"cases": [{"text": t} for t in TEXTS * 10]}
    assert client.post("/v1/cases/categorize", json=batch, headers=auth()).status_code == 200
    response = client.get("/v1/monitoring?days=7&period=D", headers=auth("analyst"))
    assert response.status_code == 200
    report = response.get_json()
    assert report["model"] == {"name": "cases", "version": "v2"}
    assert report["window"]["days"] == 7 and report["window"]["period"] == "D"
    overall = report["overall"]
    assert overall["n"] == 40 and overall["status"] in ("stable", "watch", "drift")
    assert overall["language_mix"]["zh"] == 0.5
    [today] = report["periods"]
    assert today["n"] == 40 and "category_psi" in today


def test_monitoring_of_an_empty_log(client, auth):
    report = client.get("/v1/monitoring", headers=auth("analyst")).get_json()
    assert report["overall"] == {"n": 0, "status": "no data"} and report["periods"] == []
    assert (report["window"]["days"], report["window"]["period"]) == (28, "W")


@pytest.mark.parametrize(
    ("query", "status", "code"),
    (
        ("days=0", 422, "invalid_value"),
        ("days=367", 422, "invalid_value"),
        ("days=week", 400, "wrong_type"),
        ("period=Y", 422, "invalid_value"),
    ),
)
def test_monitoring_refuses_bad_queries(client, auth, query, status, code):
    response = client.get(f"/v1/monitoring?{query}", headers=auth("analyst"))
    assert response.status_code == status
    assert response.get_json()["error"]["code"] == code


def test_monitoring_without_a_reference_profile_is_409(make_app, api_models_dir):
    app = make_app(models_dir=api_models_dir)  # its champion predates reference profiles
    token = app.extensions["triage"].store.create_key("analyst")[1]
    response = app.test_client().get("/v1/monitoring", headers={"X-API-Key": token})
    assert response.status_code == 409
    error = response.get_json()["error"]
    assert error["code"] == "no_reference_profile" and "retrain it" in error["message"]


def test_monitoring_with_the_database_down_is_503(make_app, two_versions, monkeypatch):
    app = make_app(models_dir=two_versions, require_api_keys=False)
    store = app.extensions["triage"].store

    def down(*args, **kwargs):
        raise StoreError("database is locked")

    monkeypatch.setattr(store, "prediction_profile", down)
    response = app.test_client().get("/v1/monitoring")
    assert response.status_code == 503 and response.headers["Retry-After"]
    assert response.get_json()["error"]["code"] == "database_unavailable"
