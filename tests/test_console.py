"""The operator console through the Flask test client: sign-in and sessions, roles, CSRF,
escaping, the language, and each page's actions ending in the library's records (feedback,
cases, registry changes). The same flows in a real browser: tests/system/test_console_browser.py.
"""

from __future__ import annotations

import re

import pytest
from flask.testing import FlaskClient

from triage.orders.service import OrderService
from triage.sessions import SessionStore

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')
HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)> 包裹没收到 order 12345'


def csrf_of(html: str) -> str:
    return CSRF.search(html).group(1)


def sign_in(client: FlaskClient, token: str, **headers):
    """Sign in with `token` through the form; the response to the POST."""
    form = client.get("/console/login", headers=headers)
    return client.post(
        "/console/login",
        data={"api_key": token, "csrf_token": csrf_of(form.text)},
        headers=headers,
    )


@pytest.fixture
def console(app, api_keys):
    """console(role) -> a test client signed in with that role's key."""

    def make(role: str = "predict", **headers) -> FlaskClient:
        client = FlaskClient(app, use_cookies=True)
        assert sign_in(client, api_keys[role], **headers).status_code == 302
        return client

    return make


def test_pages_need_a_session_and_sign_in_leads_back(app, api_keys):
    client = FlaskClient(app)
    first = client.get("/console/review")
    assert first.status_code == 302 and first.location.startswith("/console/login?next=")
    form = client.get(first.location)
    answer = client.post(
        "/console/login",
        data={
            "api_key": api_keys["analyst"],
            "csrf_token": csrf_of(form.text),
            "next": "/console/review",
        },
    )
    assert answer.status_code == 302 and answer.location == "/console/review"
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("triage_console=")
    )
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP here; over TLS it is Secure (next test)
    assert client.get("/console/review").status_code == 200


def test_the_session_cookie_is_secure_over_tls(app, api_keys):
    https = FlaskClient(app)
    form = https.get("/console/login", base_url="https://localhost")
    answer = https.post(
        "/console/login",
        base_url="https://localhost",
        data={"api_key": api_keys["predict"], "csrf_token": csrf_of(form.text)},
    )
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("triage_console=")
    )
    assert "Secure" in cookie


def test_the_session_cookie_is_secure_behind_a_tls_proxy_when_told(make_app):
    app = make_app(console_secure_cookies=True)
    client = FlaskClient(app)
    answer = sign_in(client, app.extensions["triage"].store.create_key("predict", "p")[1])
    cookie = next(
        c for c in answer.headers.getlist("Set-Cookie") if c.startswith("triage_console=")
    )
    assert "Secure" in cookie


@pytest.mark.parametrize(
    "key",
    (
        "wrong",
        "ctk_000000000000_" + "A" * 43,
        "",
    ),
)
def test_a_wrong_key_opens_no_session(app, key):
    client = FlaskClient(app)
    answer = sign_in(client, key)
    assert answer.status_code == 401
    assert "unknown, malformed or revoked" in answer.text
    assert not any(c.startswith("triage_console=") for c in answer.headers.getlist("Set-Cookie"))
    assert client.get("/console").status_code == 302


def test_sign_in_without_its_csrf_token_is_refused(app, api_keys):
    client = FlaskClient(app)
    client.get("/console/login")
    answer = client.post("/console/login", data={"api_key": api_keys["admin"]})
    assert answer.status_code == 403 and "security token" in answer.text
    assert client.get("/console").status_code == 302


def test_sign_out_ends_the_session_on_the_server(app, console):
    client = console("analyst")
    cookie = client.get_cookie("triage_console", path="/console").value
    page = client.get("/console/review")
    assert (
        client.post("/console/logout", data={"csrf_token": csrf_of(page.text)}).status_code == 302
    )
    assert client.get("/console/review").status_code == 302
    replay = FlaskClient(app)
    replay.set_cookie("triage_console", cookie, path="/console")
    assert replay.get("/console/review").status_code == 302  # the old cookie opens nothing


def test_idle_sessions_and_revoked_keys_end(app):
    import datetime as dt

    state = app.extensions["triage"]
    record, _ = state.store.create_key("analyst", "idle")
    sessions = SessionStore(state.store, idle=dt.timedelta(minutes=30))
    token, opened = sessions.open(record.id)
    assert sessions.touch(token, now=opened.last_seen_at + dt.timedelta(minutes=29)) is not None
    later = opened.last_seen_at + dt.timedelta(minutes=29 + 31)
    assert sessions.touch(token, now=later) is None
    token, _ = sessions.open(record.id)
    assert sessions.touch(token).role == "analyst"
    assert sessions.purge(now=later) == 1 and sessions.touch(token) is None
    token, _ = sessions.open(record.id)
    state.store.revoke_key(record.id)
    assert sessions.touch(token) is None


@pytest.mark.parametrize(
    "target", ("https://evil.example/", "//evil.example/console", "/v1/models", "javascript:x")
)
def test_sign_in_never_leads_off_the_console(app, api_keys, target):
    client = FlaskClient(app)
    form = client.get("/console/login")
    answer = client.post(
        "/console/login",
        data={"api_key": api_keys["predict"], "csrf_token": csrf_of(form.text), "next": target},
    )
    assert answer.status_code == 302 and answer.location == "/console"


ROLE_MATRIX = (
    ("predict", "/console", 200),
    ("predict", "/console/suggestions", 200),
    ("predict", "/console/review", 403),
    ("predict", "/console/orders", 403),
    ("predict", "/console/models", 403),
    ("predict", "/console/monitoring", 403),
    ("analyst", "/console/review", 200),
    ("analyst", "/console/orders", 200),
    ("analyst", "/console/models", 200),
    ("analyst", "/console/monitoring", 200),
    ("admin", "/console/models", 200),
)


@pytest.mark.parametrize(("role", "path", "status"), ROLE_MATRIX)
def test_roles_decide_the_pages(console, role, path, status):
    answer = console(role).get(path)
    assert answer.status_code == status
    if status == 403:
        assert "needs the analyst role" in answer.text


def test_the_navigation_and_buttons_follow_the_role(make_app, two_versions, api_keys):
    app = make_app(models_dir=two_versions)
    store = app.extensions["triage"].store
    tokens = {role: store.create_key(role, role)[1] for role in ("predict", "analyst", "admin")}
    pages = {}
    for role, token in tokens.items():
        client = FlaskClient(app)
        sign_in(client, token)
        pages[role] = client
    assert 'href="/console/review"' not in pages["predict"].get("/console").text
    assert 'href="/console/review"' in pages["analyst"].get("/console").text
    assert 'class="button promote"' not in pages["analyst"].get("/console/models").text
    assert 'class="button promote"' in pages["admin"].get("/console/models").text
    confirm = pages["analyst"].get("/console/models/cases/confirm?action=rollback")
    assert confirm.status_code == 403


def test_every_page_forbids_inline_scripts(console):
    client = console("admin")
    for path in (
        "/console",
        "/console/review",
        "/console/suggestions",
        "/console/orders",
        "/console/models",
        "/console/monitoring",
        "/console/login",
    ):
        answer = client.get(path)
        policy = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in policy and "unsafe-inline" not in policy, path
        assert "default-src 'none'" in policy
        # every <script> of the page loads a file; none has a body
        for tag in re.findall(r"<script[^>]*>(.*?)</script>", answer.text, flags=re.S):
            assert tag == "", path


def test_a_hostile_case_text_is_shown_escaped_and_logged(app, console):
    client = console("predict")
    page = client.get("/console")
    answer = client.post("/console", data={"text": HOSTILE, "csrf_token": csrf_of(page.text)})
    assert answer.status_code == 200
    assert '<script>alert("x")' not in answer.text and "<img src=x" not in answer.text
    assert "&lt;script&gt;" in answer.text and "&lt;img src=x onerror=alert(1)&gt;" in answer.text
    prediction_id = re.search(r'data-prediction-id="([^"]+)"', answer.text).group(1)
    logged = app.extensions["triage"].store.get_prediction(prediction_id)
    assert logged is not None and logged["key_id"] is not None


def test_the_triage_answer_as_an_htmx_fragment(console):
    client = console("predict")
    csrf = csrf_of(client.get("/console").text)
    answer = client.post(
        "/console",
        data={"text": "My parcel is late, tracking has not moved for 5 days"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert answer.status_code == 200
    assert "<html" not in answer.text and 'id="prediction"' in answer.text
    assert "<mark>" in answer.text  # a driving term highlighted in the text


def test_posts_without_the_csrf_token_are_refused(app, console):
    from tests.conftest import log_prediction

    store = app.extensions["triage"].store
    prediction_id = log_prediction(store)
    client = console("analyst")
    refused = client.post(f"/console/review/{prediction_id}", data={"category": "not_received"})
    assert refused.status_code == 403
    wrong = client.post(
        f"/console/review/{prediction_id}",
        data={"category": "not_received", "csrf_token": "not-the-token"},
    )
    assert wrong.status_code == 403
    assert store.get_prediction(prediction_id)["feedback"] == []
    assert client.post("/console", data={"text": "late"}).status_code == 403


def test_correcting_a_prediction_is_an_ordinary_feedback_record(app, console):
    from tests.conftest import log_prediction

    store = app.extensions["triage"].store
    prediction_id = log_prediction(store)
    client = console("analyst")
    queue = client.get("/console/review")
    assert prediction_id in queue.text
    answer = client.post(
        f"/console/review/{prediction_id}",
        data={"category": "not_received"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf_of(queue.text)},
    )
    assert answer.status_code == 200 and 'class="done"' in answer.text
    [note] = store.get_prediction(prediction_id)["feedback"]
    assert note["category"] == "not_received" and note["key_id"] is not None
    assert [c["prediction_id"] for c in store.corrections()] == [prediction_id]
    reviewed = client.get("/console/review?state=reviewed")
    pending = client.get("/console/review?state=pending")
    assert prediction_id in reviewed.text and prediction_id not in pending.text


def test_bulk_confirm_records_the_predicted_categories(app, console):
    from tests.conftest import log_prediction

    store = app.extensions["triage"].store
    ids = [log_prediction(store) for _ in range(3)]
    client = console("analyst")
    csrf = csrf_of(client.get("/console/review").text)
    answer = client.post(
        "/console/review/confirm", data={"prediction_id": ids[:2], "csrf_token": csrf}
    )
    assert answer.status_code == 302
    assert [len(store.get_prediction(i)["feedback"]) for i in ids] == [1, 1, 0]
    assert store.get_prediction(ids[0])["feedback"][0]["category"] == "shipping_delay"


@pytest.mark.parametrize(
    ("query", "message"),
    (
        ("category=nope", "not in the taxonomy"),
        ("language=fr", "language"),
        ("since=yesterday", "since"),
        ("state=done", "state"),
        ("before=garbage", "cursor"),
    ),
)
def test_bad_filters_of_the_review_queue_are_clear_errors(console, query, message):
    answer = console("analyst").get(f"/console/review?{query}")
    assert answer.status_code == 422 and message in answer.text
    assert "Traceback" not in answer.text


def test_the_language_follows_the_browser_then_the_switch(console):
    client = console("analyst", **{"Accept-Language": "zh-CN,zh;q=0.9"})
    page = client.get("/console", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "复核队列" in page.text and 'lang="zh-CN"' in page.text
    english = console("analyst").get("/console")
    assert "Review queue" in english.text and 'lang="en"' in english.text
    client.post("/console/language", data={"lang": "en", "csrf_token": csrf_of(page.text)})
    again = client.get("/console", headers={"Accept-Language": "zh-CN,zh;q=0.9"})
    assert "Review queue" in again.text  # the session's choice wins over the browser's


def test_accepting_an_edited_suggestion_opens_the_case(app, console, api_risk_scorer):
    service = OrderService(app.extensions["triage"].store)
    loaded = service.load_demo(api_risk_scorer)
    assert loaded.suggestions
    client = console("predict")
    page = client.get("/console/suggestions")
    assert page.status_code == 200
    risks = [float(r) for r in re.findall(r'class="risk">(\d+) %', page.text)]
    assert risks == sorted(risks, reverse=True) and risks
    assert re.search(r'<ol class="timeline"><li><span class="muted">\d{4}-\d\d-\d\d', page.text)
    first = re.search(r'id="suggestion-([^"]+)"', page.text).group(1)
    edited = "包裹一周没有物流更新 <b>请尽快处理</b>"
    answer = client.post(
        f"/console/suggestions/{first}/accept",
        data={"draft_zh": edited, "language": "zh", "csrf_token": csrf_of(page.text)},
        headers={"HX-Request": "true"},
    )
    assert answer.status_code == 200 and "&lt;b&gt;" in answer.text
    case_id = re.search(r'class="case-id">([^<]+)<', answer.text).group(1)
    case = service.cases.get(case_id)
    assert case.text == edited and case.suggestion_id == first
    assert service.suggestions.get(first).status == "accepted"
    twice = client.post(
        f"/console/suggestions/{first}/accept", data={"csrf_token": csrf_of(page.text)}
    )
    assert twice.status_code == 409


def test_dismissing_a_suggestion(app, console, api_risk_scorer):
    service = OrderService(app.extensions["triage"].store)
    loaded = service.load_demo(api_risk_scorer)
    target = loaded.suggestions[0].suggestion_id
    client = console("predict")
    csrf = csrf_of(client.get("/console/suggestions").text)
    answer = client.post(f"/console/suggestions/{target}/dismiss", data={"csrf_token": csrf})
    assert answer.status_code == 302
    assert service.suggestions.get(target).status == "dismissed"


def test_orders_at_risk_riskiest_first_with_filters(app, console, api_risk_scorer):
    service = OrderService(app.extensions["triage"].store)
    service.load_demo(api_risk_scorer)
    client = console("analyst")
    page = client.get("/console/orders")
    assert page.status_code == 200
    risks = [int(r) for r in re.findall(r"<b>(\d+) %</b>", page.text)]
    assert risks and risks == sorted(risks, reverse=True)
    carrier = re.search(r'<select id="carrier".*?<option value="([^"]+)"', page.text, re.S)
    filtered = client.get("/console/orders", query_string={"carrier": carrier.group(1)})
    assert filtered.status_code == 200
    order_id = re.search(r'href="/console/orders/([^"]+)"', page.text).group(1)
    detail = client.get(f"/console/orders/{order_id}")
    assert detail.status_code == 200 and 'id="timeline"' in detail.text
    assert client.get("/console/orders/nope").status_code == 404


def test_promote_and_roll_back_after_confirmation(make_app, two_versions):
    from triage.registry import Registry

    app = make_app(models_dir=two_versions, model_reload_seconds=0)
    token = app.extensions["triage"].store.create_key("admin", "lead")[1]
    client = FlaskClient(app)
    sign_in(client, token)
    registry = Registry(two_versions)
    assert registry.champion("cases") == "v2"
    models = client.get("/console/models")
    assert models.status_code == 200 and 'data-status="champion"' in models.text
    confirm = client.get("/console/models/cases/confirm?action=promote&version=v1")
    assert confirm.status_code == 200 and registry.champion("cases") == "v2"  # nothing yet
    done = client.post(
        "/console/models/cases/change",
        data={"action": "promote", "version": "v1", "csrf_token": csrf_of(confirm.text)},
    )
    assert done.status_code == 302 and registry.champion("cases") == "v1"
    client.post(
        "/console/models/cases/change",
        data={"action": "rollback", "csrf_token": csrf_of(confirm.text)},
    )
    assert registry.champion("cases") == "v2"
    assert [e["version"] for e in registry.state("cases")["history"]][-3:] == ["v2", "v1", "v2"]


def test_a_version_with_its_evaluation_shows_tables_and_figures(
    make_app, two_versions, tiny_model, small_cases
):
    from triage.cases.training import report_writer
    from triage.evaluation import evaluate_case_predictions
    from triage.registry import Registry

    proba = tiny_model.predict_proba(small_cases["text"].tolist())
    metrics = evaluate_case_predictions(
        small_cases["category"], proba, tiny_model.classes_, tiny_model.thresholds_
    )
    confidence = proba.max(axis=1)
    correct = tiny_model.classes_[proba.argmax(axis=1)] == small_cases["category"].to_numpy()
    gate = {
        "promote": False,
        "reasons": ["macro_f1 fell from 0.9000 to 0.5000 (tolerance 0.01)"],
        "checks": [
            {
                "name": "macro_f1",
                "champion": 0.9,
                "challenger": 0.5,
                "tolerance": 0.01,
                "lower_is_better": False,
                "passed": False,
            }
        ],
    }
    registry = Registry(two_versions)
    version = registry.create(
        "cases",
        tiny_model,
        {"kind": "case_classifier", "metrics": {"held_out": metrics, "gate": gate}},
        report_writer(metrics, confidence, correct, title="test"),
    )
    app = make_app(models_dir=two_versions)
    client = FlaskClient(app)
    sign_in(client, app.extensions["triage"].store.create_key("analyst", "a")[1])
    page = client.get(f"/console/models?model=cases&version={version}")
    assert page.status_code == 200 and 'class="per-class"' in page.text
    for figure in ("confusion_matrix", "reliability"):
        assert f"{version}/{figure}.png" in page.text
        image = client.get(f"/console/models/cases/{version}/{figure}.png")
        assert image.status_code == 200 and image.data.startswith(b"\x89PNG")
    assert client.get("/console/models/cases/v1/reliability.png").status_code == 404
    retraining = page.text[page.text.index('id="retraining"') :]
    assert version in retraining and "held back by the gate" in retraining
    assert "macro_f1 fell from 0.9000 to 0.5000" in retraining


def test_monitoring_shows_drift_against_the_training_data(make_app, two_versions):
    from tests.conftest import log_prediction

    app = make_app(models_dir=two_versions)
    store = app.extensions["triage"].store
    for _ in range(40):
        log_prediction(store, "v2")
    token = store.create_key("analyst", "a")[1]
    client = FlaskClient(app)
    sign_in(client, token)
    page = client.get("/console/monitoring?period=D")
    assert page.status_code == 200 and 'id="overall"' in page.text
    assert "n = 40" in page.text and 'id="drift-chart"' in page.text
    assert client.get("/console/monitoring?period=X").status_code == 422


def test_the_order_context_panel_shows_only_when_there_is_one(app):
    from flask import render_template

    result = {
        "prediction_id": "p1",
        "category": "shipping_delay",
        "name_zh": "物流延误",
        "name_en": "Shipping delay",
        "confidence": 0.8,
        "needs_review": False,
        "top": [],
        "explanation": [],
        "entities": [],
        "missing_details": [],
    }
    order = {
        "order_id": "A<1>",
        "status": "in_transit",
        "purchased_at": "2026-12-01",
        "promised_at": "2026-12-04",
        "delivered_at": None,
        "last_event": {"type": "departed", "time": "2026-12-02", "place": "GD"},
        "days_late": 2,
        "risk": {"p_late": 0.91, "model_version": "r1"},
        "suggestion": {"id": "sug_1", "status": "open"},
        "text_only": {"category": "other", "confidence": 0.4},
        "evidence": [{"fact": "status", "value": "in_transit<b>", "weight": 2.4}],
        "details": [],
        "case": None,
    }
    with app.test_request_context("/console"):
        without = render_template("console/_triage_result.html", result=result, pieces=[])
        with_order = render_template(
            "console/_triage_result.html", result={**result, "order": order}, pieces=[]
        )
    assert "order-context" not in without
    assert 'id="order-context"' in with_order and "A&lt;1&gt;" in with_order
    assert "91 %" in with_order and "sug_1" in with_order
    assert "status = in_transit&lt;b&gt;" in with_order and "(+2.4)" in with_order


def test_highlight_cuts_the_text_at_the_terms():
    from api.console.intake import highlight

    assert highlight("Parcel late, parcel lost", ["parcel"]) == [
        ("Parcel", True),
        (" late, ", False),
        ("parcel", True),
        (" lost", False),
    ]
    assert highlight("包裹没收到", []) == [("包裹没收到", False)]


def test_an_htmx_request_gets_its_error_as_a_fragment(app, console):
    from tests.conftest import log_prediction

    prediction_id = log_prediction(app.extensions["triage"].store)
    client = console("analyst")
    csrf = csrf_of(client.get("/console/review").text)
    answer = client.post(
        f"/console/review/{prediction_id}",
        data={"category": "no_such_category"},
        headers={"HX-Request": "true", "X-CSRF-Token": csrf},
    )
    assert answer.status_code == 422 and "<html" not in answer.text
    assert 'id="error"' in answer.text and "not in the taxonomy" in answer.text
