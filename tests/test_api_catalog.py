"""Taxonomy, models, liveness, readiness and the JSON answers to unknown routes."""

import pytest

from triage.taxonomy import load_taxonomy


def test_taxonomy(client, auth):
    body = client.get("/v1/taxonomy", headers=auth()).get_json()
    assert [c["id"] for c in body["categories"]] == load_taxonomy().ids
    shipping = next(c for c in body["categories"] if c["id"] == "shipping_delay")
    assert shipping["name_zh"] == "物流延误" and shipping["required_details"]


def test_models_lists_the_champion_with_metrics(client, auth, api_models_dir, api_router):
    body = client.get("/v1/models", headers=auth()).get_json()
    assert [m["name"] for m in body["models"]] == ["cases", "risk"]  # risk: served, unregistered
    cases = body["models"][0]
    assert cases["name"] == "cases" and cases["version"] == api_router.version
    assert cases["serving_version"] == api_router.version
    assert cases["metrics"]["held_out"]["accuracy"] == 0.5
    assert cases["kind"] == "case_classifier" and cases["versions"] == 1


def test_healthz_is_a_constant(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_readyz_when_ready(client, api_router, api_risk_scorer):
    body = client.get("/readyz").get_json()
    assert body == {
        "status": "ready",
        "models": {
            "cases": {"version": api_router.version},
            "risk": {"version": api_risk_scorer.version},
        },
        "database": "ok",
    }


def test_readyz_is_ready_without_the_optional_risk_model(tmp_path, api_models_dir):
    """The risk model serves only the order endpoints: its absence is reported, not blocking."""
    from api import create_app
    from api.testing import ConformingClient

    app = create_app({"models_dir": api_models_dir, "data_dir": tmp_path / "var"})
    app.test_client_class = ConformingClient
    response = app.test_client().get("/readyz")
    assert response.status_code == 200
    risk = response.get_json()["models"]["risk"]
    assert set(risk) == {"error"} and "no champion" in risk["error"]


def test_readyz_loads_the_champion_itself(tmp_path, api_models_dir, api_router):
    from api import create_app

    app = create_app({"models_dir": api_models_dir, "data_dir": tmp_path / "var"})
    body = app.test_client().get("/readyz").get_json()
    assert body["models"]["cases"]["version"] == api_router.version


def test_readyz_without_a_model_is_503_and_healthz_still_200(tmp_path):
    from api import create_app
    from api.testing import ConformingClient

    app = create_app({"models_dir": tmp_path / "none", "data_dir": tmp_path / "var"})
    app.test_client_class = ConformingClient
    client = app.test_client()
    response = client.get("/readyz")
    assert response.status_code == 503
    error = response.get_json()["error"]
    assert error["code"] == "not_ready" and "no champion" in error["message"]
    assert "error" in error["details"]["models"]["cases"]
    assert response.headers["Retry-After"]
    assert client.get("/healthz").status_code == 200


def test_corrupt_model_keeps_the_service_unready(tmp_path, api_models_dir):
    import shutil

    from api import create_app

    models = tmp_path / "models"
    shutil.copytree(api_models_dir, models)
    [artifact] = models.glob("cases/*/model.joblib")
    artifact.write_bytes(artifact.read_bytes() + b"tampered")
    app = create_app({"models_dir": models, "data_dir": tmp_path / "var"})
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and "SHA-256" in response.get_json()["error"]["message"]


def test_unknown_route_and_method_are_json(client):
    missing = client.get("/v2/whatever")
    assert missing.status_code == 404 and missing.get_json()["error"]["code"] == "not_found"
    wrong = client.put("/v1/feedback")
    assert wrong.status_code == 405
    assert wrong.get_json()["error"]["code"] == "method_not_allowed"
    assert "POST" in wrong.headers["Allow"]


def test_options_is_not_answered_outside_the_document(client):
    response = client.options("/v1/taxonomy")
    assert response.status_code == 405 and response.get_json()["error"]["code"] == (
        "method_not_allowed"
    )


def test_settings_come_from_defaults_then_environment_then_config(make_app, monkeypatch):
    monkeypatch.setenv("TRIAGE_BATCH_LIMIT", "5")
    monkeypatch.setenv("TRIAGE_RATE_LIMIT_PER_MINUTE", "9")
    settings = make_app(batch_limit=7).config["TRIAGE_SETTINGS"]
    assert (settings.batch_limit, settings.rate_limit_per_minute) == (7, 9)
    assert settings.max_body_bytes == 2 * 1024 * 1024  # default


def test_bad_setting_is_a_config_error(tmp_path):
    from api import create_app
    from triage.errors import ConfigError

    with pytest.raises(ConfigError, match="batch_limit"):
        create_app({"data_dir": tmp_path, "batch_limit": "many", "load_models": False})
