"""Access: the role matrix on every operation, keys, rate limits and security headers."""

import datetime as dt
import hashlib
import re
import time

import pytest
import sqlalchemy as sa

from tests.conftest import log_prediction
from triage.store import utcnow
from triage.store_tables import metadata

CALLERS = (None, "predict", "analyst", "admin")
RANK = {None: -1, "predict": 0, "analyst": 1, "admin": 2}

#: (method, path, role needed or None for public). Every operation of the OpenAPI document must
#: be here (test_matrix_covers_the_document), so a new endpoint cannot skip the matrix.
ROUTES = (
    ("GET", "/healthz", None),
    ("GET", "/readyz", None),
    ("GET", "/openapi.json", None),
    ("GET", "/docs", None),
    ("POST", "/v1/cases/categorize", "predict"),
    ("GET", "/v1/cases", "analyst"),
    ("GET", "/v1/cases/{case_id}", "analyst"),
    ("POST", "/v1/cases/{case_id}/resolve", "analyst"),
    ("GET", "/v1/taxonomy", "predict"),
    ("GET", "/v1/models", "predict"),
    ("POST", "/v1/feedback", "analyst"),
    ("GET", "/v1/predictions", "analyst"),
    ("GET", "/v1/predictions/{prediction_id}", "analyst"),
    ("POST", "/v1/models/{name}/promote", "admin"),
    ("POST", "/v1/models/{name}/rollback", "admin"),
    ("GET", "/v1/monitoring", "analyst"),
    ("POST", "/v1/orders/risk", "predict"),
    ("POST", "/v1/orders", "analyst"),
    ("POST", "/v1/orders/events", "analyst"),
    ("GET", "/v1/suggestions", "predict"),
    ("POST", "/v1/suggestions/{suggestion_id}/accept", "predict"),
    ("POST", "/v1/suggestions/{suggestion_id}/dismiss", "predict"),
)
SUGGESTION_ID = "sug_rolematrix0001"
CASE_ID = "case_0000000000000001"


@pytest.fixture
def app(make_app, two_versions):
    """The API over a private registry (v2 champion after v1), so that admin calls may change it."""
    return make_app(models_dir=two_versions)


@pytest.fixture
def prediction_id(app):
    return log_prediction(app.extensions["triage"].store)


def _order(order_id):
    now = dt.datetime.now(dt.UTC)
    return {
        "order_id": order_id,
        "purchased_at": (now - dt.timedelta(days=1)).isoformat(),
        "promised_date": (now + dt.timedelta(days=3)).date().isoformat(),
    }


@pytest.fixture
def suggestion_id(app):
    """A stored order (ROLE-1) with an open suggestion, for the order and suggestion routes,
    and an open case (CASE_ID) for the case routes."""
    from triage.orders.data.schema import orders_from_records
    from triage.orders.service import OrderService
    from triage.orders.suggestions.policy import Suggestion

    service = OrderService(app.extensions["triage"].store)
    service.orders.save(orders_from_records([_order("ROLE-1")]), None, utcnow())
    facts = {
        "order_id": "ROLE-1",
        "purchased_at": "2024-11-08T10:00:00+00:00",
        "promised_date": "2024-11-13",
        "carrier": "Panda Post",
        "last_event": "none",
    }
    service.suggestions.add(
        Suggestion(
            SUGGESTION_ID,
            "ROLE-1",
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
    # and an open case of another order, for the case routes
    from triage.cases.store import CaseRecord

    case = CaseRecord(
        id=CASE_ID,
        order_id="ROLE-3",
        category="shipping_delay",
        text="where is it",
        language="en",
        created_at=utcnow(),
        suggestion_id=None,
        predicted_category="shipping_delay",
        confidence=0.9,
        needs_review=False,
        model_name="cases",
        model_version="v1",
        origin="filed",
    )
    with service.cases.store.transaction(write=True) as conn:
        service.cases.insert(conn, case)
    return SUGGESTION_ID


def _request(client, method, path, headers, prediction_id):
    path = path.replace("{prediction_id}", prediction_id).replace("{name}", "cases")
    path = path.replace("{suggestion_id}", SUGGESTION_ID).replace("{case_id}", CASE_ID)
    event = {"order_id": "ROLE-1", "time": utcnow().isoformat(), "event_type": "picked_up"}
    bodies = {
        "/v1/cases/categorize": {"text": "my parcel never arrived"},
        "/v1/feedback": {"prediction_id": prediction_id, "category": "not_received"},
        "/v1/models/cases/promote": {"version": "v1"},
        "/v1/orders/risk": {"order": _order("ROLE-9")},
        "/v1/orders": {"orders": [_order("ROLE-2")]},
        "/v1/orders/events": {"events": [event]},
    }
    if method == "POST" and path in bodies:
        return client.post(path, json=bodies[path], headers=headers)
    if method == "POST":
        return client.post(path, headers=headers)
    return client.get(path, headers=headers)


def test_matrix_covers_the_document(app):
    document = app.extensions["triage.openapi"].document
    documented = {
        (method.upper(), path, op.get("x-required-role"))
        for path, item in document["paths"].items()
        for method, op in item.items()
    }
    assert documented == set(ROUTES)


def test_views_enforce_the_documented_role(app):
    """The role each view's @requires checks is the one the document states (the console's
    pages are not in the document: tests/test_console.py checks their roles)."""
    document = app.extensions["triage.openapi"].document
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.endpoint.startswith("console."):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            op = document["paths"][path][method.lower()]
            assert getattr(view, "required_role", None) == op.get("x-required-role"), path


@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize(("method", "path", "needed"), ROUTES)
def test_role_matrix(client, auth, prediction_id, suggestion_id, method, path, needed, caller):
    headers = auth(caller) if caller else {}
    response = _request(client, method, path, headers, prediction_id)
    if needed is None:
        assert response.status_code == 200
    elif caller is None:
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "missing_api_key"
        assert response.headers["WWW-Authenticate"] == "Bearer"
    elif RANK[caller] < RANK[needed]:
        assert response.status_code == 403
        error = response.get_json()["error"]
        assert error["code"] == "insufficient_role"
        assert error["details"] == {"required": needed, "granted": caller}
    else:
        assert response.status_code in (200, 201), response.get_json()


@pytest.mark.parametrize(
    "headers",
    (
        {"Authorization": "Bearer nonsense"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ctk_000000000000_" + "A" * 43},
        {"X-API-Key": "ctk_zzzz"},
    ),
)
def test_invalid_keys_are_401(client, headers):
    response = client.get("/v1/taxonomy", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["error"]["code"] == "invalid_api_key"


def test_x_api_key_header_works(client, api_keys):
    assert client.get("/v1/taxonomy", headers={"X-API-Key": api_keys["predict"]}).status_code == 200


def test_a_tampered_secret_is_refused(client, api_keys):
    token = api_keys["admin"]
    forged = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/v1/taxonomy", headers={"X-API-Key": forged}).status_code == 401


def test_revoked_key_is_refused_at_once(app, client, api_keys):
    token = api_keys["analyst"]
    headers = {"Authorization": f"Bearer {token}"}
    assert client.get("/v1/taxonomy", headers=headers).status_code == 200
    key_id = token.split("_")[1]
    assert app.extensions["triage"].store.revoke_key(key_id)
    assert client.get("/v1/taxonomy", headers=headers).status_code == 401


def test_keys_are_stored_hashed(app, api_keys, tmp_path, database_url):
    store = app.extensions["triage"].store
    records = {r.role: r for r in store.list_keys()}
    for role, token in api_keys.items():
        assert records[role].token_hash == hashlib.sha256(token.encode()).hexdigest()
    if database_url.startswith("sqlite"):  # the file's bytes, free pages and WAL included
        database = (tmp_path / "var" / "triage.db").read_bytes()
        wal = tmp_path / "var" / "triage.db-wal"
        stored = database + (wal.read_bytes() if wal.exists() else b"")
    else:  # every value of every table
        with store.engine.connect() as conn:
            rows = [conn.execute(sa.select(table)).all() for table in metadata.sorted_tables]
        stored = repr(rows).encode()
    for token in api_keys.values():
        assert token.encode() not in stored
        assert token.split("_", 2)[2].encode() not in stored  # the secret may hold "_"


def test_rate_limit_per_key(make_app, monkeypatch):
    app = make_app(rate_limit_per_minute=3)
    store = app.extensions["triage"].store
    client = app.test_client()
    first = {"X-API-Key": store.create_key("predict")[1]}
    second = {"X-API-Key": store.create_key("predict")[1]}
    now = 1_800_000_010.0  # 10 s into a minute window
    monkeypatch.setattr(time, "time", lambda: now)
    answers = [client.get("/v1/taxonomy", headers=first) for _ in range(4)]
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers] == ["2", "1", "0", "0"]
    limited = answers[-1]
    assert limited.get_json()["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "50"
    assert client.get("/v1/taxonomy", headers=second).status_code == 200
    now += 60
    assert client.get("/v1/taxonomy", headers=first).status_code == 200


def test_keys_not_required_when_configured(make_app):
    client = make_app(require_api_keys=False).test_client()
    assert client.get("/v1/predictions").status_code == 200
    bad = client.get("/v1/predictions", headers={"X-API-Key": "ctk_wrong"})
    assert bad.status_code == 401


@pytest.mark.parametrize(
    ("method", "path", "kwargs"),
    (
        ("GET", "/healthz", {}),
        ("GET", "/v1/taxonomy", {}),
        ("GET", "/nowhere", {}),
        ("DELETE", "/v1/taxonomy", {}),
        ("POST", "/v1/cases/categorize", {"data": "x"}),
        ("GET", "/docs", {}),
        ("GET", "/static/docs.css", {}),
    ),
)
def test_security_headers_on_every_response(client, method, path, kwargs):
    response = client.open(path, method=method, **kwargs)
    headers = response.headers
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["Cache-Control"] == ("no-cache" if path.startswith("/static/") else "no-store")
    assert headers["X-Request-ID"]


def test_request_id_is_echoed_when_sane(client):
    assert client.get("/healthz", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == (
        "abc-123"
    )
    odd = client.get("/healthz", headers={"X-Request-ID": "<script>"}).headers["X-Request-ID"]
    assert odd != "<script>" and len(odd) == 32
