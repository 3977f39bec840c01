"""The OpenAPI document: valid, complete, matching the routes, and readable offline.

That responses match it is checked on every request of the API tests (api.testing's
ConformingClient); here, that the checker itself catches a mismatch.
"""

import json
import re

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate

from api.openapi import openapi_for
from api.testing import check_response


def test_document_is_valid_openapi_3_1(client):
    document = client.get("/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    validate(document)
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)


def test_every_route_is_documented_and_nothing_else(app):
    """Every route of the JSON API; the operator console's HTML pages are not part of it."""
    document = openapi_for(app).document
    routes = {
        (re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule), method.lower())
        for rule in app.url_map.iter_rules()
        if rule.endpoint != "static" and not rule.endpoint.startswith("console.")
        for method in rule.methods - {"HEAD", "OPTIONS"}
    }
    documented = {(path, method) for path, item in document["paths"].items() for method in item}
    assert routes == documented


def test_operation_ids_are_unique(app):
    document = openapi_for(app).document
    ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(ids) == len(set(ids))


def test_limits_in_the_document_follow_the_settings(make_app):
    document = openapi_for(make_app(batch_limit=7, max_text_bytes=100)).document
    schemas = document["components"]["schemas"]
    assert schemas["CategorizeBatch"]["properties"]["cases"]["maxItems"] == 7
    assert "100 bytes" in schemas["CaseInput"]["properties"]["text"]["description"]


def test_request_example_is_accepted(client, auth, app):
    document = openapi_for(app).document
    body = document["paths"]["/v1/cases/categorize"]["post"]["requestBody"]
    example = body["content"]["application/json"]["example"]
    assert client.post("/v1/cases/categorize", json=example, headers=auth()).status_code == 200


def test_checker_catches_an_undocumented_field(app, client, auth):
    response = client.post("/v1/cases/categorize", json={"text": "hello"}, headers=auth())
    body = response.get_json()
    body["surprise"] = 1
    response.set_data(json.dumps(body))
    with pytest.raises(Exception, match="surprise"):
        check_response(app, "POST", "/v1/cases/categorize", response)


def test_checker_catches_an_undocumented_status(app, client):
    response = client.get("/healthz")
    response.status_code = 418
    with pytest.raises(AssertionError, match="not documented"):
        check_response(app, "GET", "/healthz", response)


def test_docs_page_is_readable_offline(client):
    response = client.get("/docs")
    assert response.status_code == 200 and response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    for path in ("/v1/cases/categorize", "/v1/feedback", "/v1/taxonomy", "/v1/models"):
        assert path in page
    assert "CaseInput" in page and "买家开了A-to-Z" in page
    external = re.findall(r"""(?:src|href)=["'](https?:)?//""", page)
    assert external == [] and "<script" not in page
    css = re.search(r'href="([^"]+\.css)"', page).group(1)
    assert client.get(css).status_code == 200


def test_a_new_resource_plugs_in_with_its_routes_document_and_model(
    monkeypatch, tmp_path, api_models_dir
):
    """The extension point other resources use: a views and a schemas module (here one module
    for both), one line in RESOURCES."""
    import sys
    import types

    from flask import Blueprint

    import api.factory
    from api import create_app
    from api.auth import requires
    from api.openapi import error_responses, json_response
    from api.runtime import runtime
    from api.testing import ConformingClient

    module = types.ModuleType("fake_resource")
    module.blueprint = Blueprint("fake", "fake_resource")

    class Echo:
        name, version = "echo", "v9"

        def warm(self):
            return self

    @module.blueprint.get("/v1/echo")
    @requires("analyst")
    def echo():
        return {"version": runtime().models.get("echo").version}

    module.openapi = lambda settings: {
        "paths": {
            "/v1/echo": {
                "get": {
                    "operationId": "echo",
                    "x-required-role": "analyst",
                    "responses": {
                        "200": json_response(
                            {"type": "object", "required": ["version"]}, "The served version."
                        ),
                        **error_responses(401, 403, 429, 503),
                    },
                }
            }
        }
    }
    module.setup = lambda state: state.models.add_loader("echo", lambda registry, tax: Echo())
    monkeypatch.setitem(sys.modules, "fake_resource", module)
    monkeypatch.setattr(
        api.factory, "RESOURCES", (*api.factory.RESOURCES, ("fake_resource", "fake_resource"))
    )

    app = create_app({"models_dir": api_models_dir, "data_dir": tmp_path / "var"})
    app.test_client_class = ConformingClient
    token = app.extensions["triage"].store.create_key("analyst")[1]
    client = app.test_client()
    response = client.get("/v1/echo", headers={"X-API-Key": token})
    assert response.get_json() == {"version": "v9"}
    assert client.get("/readyz").get_json()["models"]["echo"] == {"version": "v9"}
    assert "/v1/echo" in client.get("/openapi.json").get_json()["paths"]
    validate(openapi_for(app).document)
