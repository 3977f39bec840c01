"""The order and suggestion endpoints: success and error paths, the suggestion policy through
HTTP, accepted cases. Every response is checked against the OpenAPI document
(ConformingClient, see conftest.make_app)."""

import datetime as dt

import pytest

from triage.orders.service import OrderService
from triage.store import utcnow

DAY = dt.timedelta(days=1)


def order(order_id, purchased_days_ago=3.0, promised_in_days=2, **extra):
    now = utcnow()
    return {
        "order_id": order_id,
        "purchased_at": (now - purchased_days_ago * DAY).isoformat(),
        "promised_date": (now + promised_in_days * DAY).date().isoformat(),
        "carrier": "Panda Post",
        "seller_id": "S1",
        "seller_region": "GD",
        "buyer_region": "SH",
        **extra,
    }


def late(order_id, **extra):
    """An order past its promised date and not delivered: risk 1.0 whatever the model."""
    return order(order_id, purchased_days_ago=8, promised_in_days=-3, **extra)


def event(order_id, days_ago, kind="picked_up", place="GD"):
    return {
        "order_id": order_id,
        "time": (utcnow() - days_ago * DAY).isoformat(),
        "event_type": kind,
        "location": place,
    }


@pytest.fixture
def post(client, auth):
    """post(path, body, role="analyst") with that role's key."""
    return lambda path, body=None, role="analyst": client.post(path, json=body, headers=auth(role))


@pytest.fixture
def get(client, auth):
    return lambda path, role="predict": client.get(path, headers=auth(role))


def ingest_late(post, *ids):
    body = {"orders": [late(i) for i in ids], "events": [event(i, 6) for i in ids]}
    response = post("/v1/orders", body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- POST /v1/orders/risk ------------------------------------------------------------------
def test_risk_of_one_order_stores_nothing(post, get, app, api_risk_scorer):
    response = post("/v1/orders/risk", {"order": late("R1"), "events": [event("R1", 6)]}, "predict")
    assert response.status_code == 200
    body = response.get_json()
    assert body["order_id"] == "R1" and body["open"] is True
    assert body["risk"] == 1.0 and body["flagged"] is True and body["category"] == "shipping_delay"
    assert body["reasons"][0]["factor"] == "promise_broken" and body["reasons"][0]["text_zh"]
    assert body["facts"]["carrier"] == "Panda Post" and body["facts"]["last_event"] == "picked_up"
    assert body["model"] == {
        "name": "risk",
        "version": api_risk_scorer.version,
        "threshold": api_risk_scorer.threshold,
    }
    assert get("/v1/suggestions").get_json()["suggestions"] == []
    assert OrderService(app.extensions["triage"].store).orders.count() == 0


def test_risk_batch_in_order_with_closed_orders_unscored(post):
    orders = [
        order("B1", purchased_days_ago=1, promised_in_days=6),
        order("B2", delivered_at=utcnow().isoformat()),
        late("B3", canceled=True),
    ]
    response = post("/v1/orders/risk", {"orders": orders, "events": [event("B1", 0.5)]}, "predict")
    results = response.get_json()["results"]
    assert [r["order_id"] for r in results] == ["B1", "B2", "B3"]
    assert results[0]["open"] and 0 <= results[0]["risk"] <= 1
    # a reason is a factor that raises the risk by 0.01 or more; an order at low risk may have
    # none (whether it does depends on the weekday and hour the test runs at, as the model does)
    assert all(reason["impact"] >= 0.01 for reason in results[0]["reasons"])
    for closed in results[1:]:
        assert closed["open"] is False and closed["risk"] is None and closed["facts"] is None


def test_risk_as_of_before_the_purchase_is_not_open(post):
    body = {"order": order("C1"), "as_of": (utcnow() - 10 * DAY).isoformat()}
    answer = post("/v1/orders/risk", body, "predict").get_json()
    assert answer["open"] is False and answer["as_of"].startswith(str((utcnow() - 10 * DAY).date()))


@pytest.mark.parametrize(
    ("body", "status", "field"),
    (
        ({"order": {"order_id": "X"}}, 400, "order.purchased_at"),
        ({"orders": [order("X"), {**order("Y"), "price": "cheap"}]}, 400, "orders[1].price"),
        ({"order": {**order("X"), "colour": "red"}}, 400, "order.colour"),
        ({"order": order("X"), "events": "none"}, 400, "events"),
        ({"order": {**order("X"), "purchased_at": "last Tuesday"}}, 422, "order.purchased_at"),
        ({"order": {**order("X"), "weight_kg": -1}}, 422, "order.weight_kg"),
        ({"order": order("X"), "events": [{**event("X", 1), "event_type": "lost"}]}, 422,
         "events[0].event_type"),
        ({"order": {**order("X"), "purchased_at": "2024-13-45"}}, 422, "order.purchased_at"),
        ({"order": order("X", purchased_days_ago=1, promised_in_days=-5)}, 422, "orders"),
        ({"orders": [order("X"), order("X")]}, 422, "orders"),
        ({"order": order("X"), "events": [event("Y", 1)]}, 422, "events"),
        ({"order": order("X"), "as_of": "soon"}, 422, "as_of"),
    ),
)  # fmt: skip
def test_risk_refuses_bad_input_with_the_field(post, body, status, field):
    response = post("/v1/orders/risk", body, "predict")
    assert response.status_code == status, response.get_json()
    assert response.get_json()["error"]["details"]["field"] == field


def test_risk_limits_and_media_type(make_app, auth_for):
    app = make_app(batch_limit=2)
    client, headers = app.test_client(), auth_for(app, "predict")
    body = {"orders": [order(f"O{i}") for i in range(3)]}
    response = client.post("/v1/orders/risk", json=body, headers=headers)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "too_many_items"
    response = client.post("/v1/orders/risk", data="x", headers=headers)
    assert response.status_code == 415


@pytest.fixture
def auth_for():
    def headers(app, role):
        return {"X-API-Key": app.extensions["triage"].store.create_key(role)[1]}

    return headers


def test_order_endpoints_answer_503_without_a_risk_model(
    tmp_path, api_models_dir, api_router, auth_for
):
    """The service is ready without the risk model; the order endpoints say why they cannot."""
    from api import create_app
    from api.testing import ConformingClient

    app = create_app(
        {"models_dir": api_models_dir, "data_dir": tmp_path / "v", "load_models": False}
    )
    app.test_client_class = ConformingClient
    app.extensions["triage"].models.add_loader("cases", lambda registry, taxonomy: api_router)
    app.extensions["triage"].models.load()
    client, headers = app.test_client(), auth_for(app, "analyst")
    assert client.get("/readyz").status_code == 200
    for path, body in (
        ("/v1/orders/risk", {"order": late("Z1")}),
        ("/v1/orders", {"orders": [late("Z1")]}),
    ):
        response = client.post(path, json=body, headers=headers)
        assert response.status_code == 503 and response.headers["Retry-After"]
        assert "risk" in response.get_json()["error"]["message"]
    assert OrderService(app.extensions["triage"].store).orders.count() == 0  # nothing stored


# -- POST /v1/orders and /v1/orders/events ---------------------------------------------------
def test_ingest_stores_rescores_and_suggests(post, get):
    batch = {"orders": [late("L1")], "events": [event("L1", 6)]}
    body = post("/v1/orders", batch).get_json()
    assert body["orders"] == {"new": 1, "updated": 0} and body["events"] == {
        "new": 1,
        "duplicate": 0,
    }
    assert body["scored"] == 1 and body["flagged"] == 1
    [made] = body["suggestions"]
    assert made["order_id"] == "L1" and made["status"] == "open"
    assert made["category"] == "shipping_delay" and made["risk"] == 1.0  # late, not lost yet
    assert "L1" in made["draft_zh"] and "订单" in made["draft_zh"]
    assert "L1" in made["draft_en"] and "Panda Post" in made["draft_en"]
    listed = get("/v1/suggestions").get_json()["suggestions"]
    assert [s["suggestion_id"] for s in listed] == [made["suggestion_id"]]
    # the same batch again: the order is updated, the event is a duplicate, no second suggestion
    again = post("/v1/orders", batch).get_json()
    assert again["orders"] == {"new": 0, "updated": 1} and again["events"]["duplicate"] == 1
    assert again["flagged"] == 1 and again["suggestions"] == []


def test_ingest_events_of_stored_orders(post):
    ingest_late(post, "E1")
    response = post("/v1/orders/events", {"events": [event("E1", 1, "in_transit")]})
    body = response.get_json()
    assert response.status_code == 200 and body["events"] == {"new": 1, "duplicate": 0}
    assert body["scored"] == 1 and body["suggestions"] == []  # E1 has its open suggestion


def test_ingest_is_all_or_nothing(post, app):
    bad = order("N2", purchased_days_ago=1, promised_in_days=-5)
    response = post("/v1/orders", {"orders": [late("N1"), bad]})
    assert (
        response.status_code == 422 and response.get_json()["error"]["details"]["field"] == "orders"
    )
    events = [event("N1", 1), event("UNKNOWN", 1)]
    response = post("/v1/orders", {"orders": [late("N1")], "events": events})
    assert (
        response.status_code == 422
        and "not in the orders table" in response.get_json()["error"]["message"]
    )
    assert OrderService(app.extensions["triage"].store).orders.count() == 0
    response = post("/v1/orders/events", {"events": [event("N1", 1)]})
    assert (
        response.status_code == 422 and response.get_json()["error"]["details"]["field"] == "events"
    )


def test_a_delivered_order_gets_no_suggestion(post):
    body = post(
        "/v1/orders", {"orders": [late("D1", delivered_at=utcnow().isoformat())]}
    ).get_json()
    assert body["scored"] == 0 and body["suggestions"] == []


@pytest.mark.parametrize(
    ("path", "body", "status"),
    (
        ("/v1/orders", {"orders": []}, 422),
        ("/v1/orders", {"events": [event("A", 1)]}, 400),
        ("/v1/orders/events", {"events": []}, 422),
        ("/v1/orders/events", {"events": [{"order_id": "A", "time": "now", "event_type": "delivered"}]}, 422),
    ),
)  # fmt: skip
def test_ingest_refuses_bad_bodies(post, path, body, status):
    assert post(path, body).status_code == status


# -- GET /v1/suggestions ---------------------------------------------------------------------
def test_list_filters_and_pages(post, get):
    ingest_late(post, "P1", "P2", "P3")
    first = get("/v1/suggestions?limit=2").get_json()
    assert len(first["suggestions"]) == 2 and first["next_offset"] == 2
    rest = get("/v1/suggestions?limit=2&offset=2").get_json()
    assert len(rest["suggestions"]) == 1 and rest["next_offset"] is None
    ids = {s["order_id"] for s in first["suggestions"] + rest["suggestions"]}
    assert ids == {"P1", "P2", "P3"}
    [p2] = get("/v1/suggestions?order_id=P2").get_json()["suggestions"]
    post(f"/v1/suggestions/{p2['suggestion_id']}/dismiss", role="predict")
    dismissed = get("/v1/suggestions?status=dismissed").get_json()["suggestions"]
    assert [s["order_id"] for s in dismissed] == ["P2"] and dismissed[0]["decided_at"]
    assert len(get("/v1/suggestions?status=open").get_json()["suggestions"]) == 2


@pytest.mark.parametrize(
    ("query", "status", "field"),
    (("status=pending", 422, "status"), ("limit=many", 400, "limit"), ("offset=-1", 422, "offset")),
)
def test_list_refuses_bad_queries(get, query, status, field):
    response = get(f"/v1/suggestions?{query}")
    assert (
        response.status_code == status and response.get_json()["error"]["details"]["field"] == field
    )


# -- accept and dismiss ----------------------------------------------------------------------
def _suggestion_of(get, order_id):
    [found] = get(f"/v1/suggestions?order_id={order_id}").get_json()["suggestions"]
    return found


def test_accept_opens_a_categorized_case_with_the_draft(post, get, api_router):
    ingest_late(post, "A1", "A2", "A3")
    zh, en, edited = (_suggestion_of(get, i) for i in ("A1", "A2", "A3"))

    response = post(f"/v1/suggestions/{zh['suggestion_id']}/accept", role="predict")
    assert response.status_code == 201
    case, accepted = response.get_json()["case"], response.get_json()["suggestion"]
    assert case["text"] == zh["draft_zh"] and case["language"] == "zh"
    assert case["order_id"] == "A1" and case["category"] == zh["category"]
    assert case["suggestion_id"] == zh["suggestion_id"] and case["id"].startswith("case_")
    assert accepted["status"] == "accepted" and accepted["case_id"] == case["id"]
    prediction = case["prediction"]
    expected = api_router.predict([zh["draft_zh"]], ["zh"])[0]
    assert prediction["category"] == expected.category and prediction["name_zh"]
    assert prediction["model"]["name"] == "cases"
    logged = get(f"/v1/predictions/{prediction['prediction_id']}", role="analyst").get_json()
    assert logged["order_id"] == "A1" and logged["category"] == prediction["category"]

    body = {"language": "en"}
    case = post(f"/v1/suggestions/{en['suggestion_id']}/accept", body, "predict").get_json()["case"]
    assert case["text"] == en["draft_en"] and case["language"] == "en"

    text = "买家说包裹一直没到，tracking 停在转运中心 A3"
    body = {"text": text}
    case = post(f"/v1/suggestions/{edited['suggestion_id']}/accept", body, "predict").get_json()[
        "case"
    ]
    assert case["text"] == text and case["language"] == "mixed"


def test_decisions_are_final_409_and_unknown_404(post, get):
    ingest_late(post, "F1", "F2")
    first, second = _suggestion_of(get, "F1"), _suggestion_of(get, "F2")
    assert (
        post(f"/v1/suggestions/{first['suggestion_id']}/accept", role="predict").status_code == 201
    )
    dismissed = post(f"/v1/suggestions/{second['suggestion_id']}/dismiss", role="predict")
    assert dismissed.status_code == 200 and dismissed.get_json()["status"] == "dismissed"
    for sid, action in (
        (first["suggestion_id"], "accept"),
        (first["suggestion_id"], "dismiss"),
        (second["suggestion_id"], "accept"),
        (second["suggestion_id"], "dismiss"),
    ):
        response = post(f"/v1/suggestions/{sid}/{action}", role="predict")
        assert response.status_code == 409 and response.get_json()["error"]["code"] == "conflict"
    for action in ("accept", "dismiss"):
        response = post(f"/v1/suggestions/sug_nope/{action}", role="predict")
        assert response.status_code == 404


@pytest.mark.parametrize(
    ("body", "status"),
    (
        ({"language": "mixed"}, 422),  # the drafts are zh and en
        ({"language": "fr"}, 422),
        ({"text": "   "}, 422),
        ({"text": 42}, 400),
        ({"note": "x"}, 400),
    ),
)
def test_accept_refuses_bad_bodies(post, get, body, status):
    ingest_late(post, "G1")
    sid = _suggestion_of(get, "G1")["suggestion_id"]
    response = post(f"/v1/suggestions/{sid}/accept", body, "predict")
    assert response.status_code == status
    assert _suggestion_of(get, "G1")["status"] == "open"  # nothing decided


def test_accept_refuses_a_text_over_the_limit(make_app, auth_for):
    app = make_app(max_text_bytes=100)
    client, headers = app.test_client(), auth_for(app, "analyst")
    client.post("/v1/orders", json={"orders": [late("T1")]}, headers=headers)
    [made] = client.get("/v1/suggestions", headers=headers).get_json()["suggestions"]
    path = f"/v1/suggestions/{made['suggestion_id']}/accept"
    response = client.post(path, json={"text": "包裹" * 40}, headers=headers)
    assert response.status_code == 413 and response.get_json()["error"]["code"] == "text_too_large"


# -- the policy through HTTP -----------------------------------------------------------------
def test_cooldown_after_a_dismissal(make_app, auth_for):
    """Default cooldown (3 days): nothing new for a dismissed order; with none, at once."""
    for days, expected in ((3.0, 0), (0.0, 1)):
        app = make_app(suggestion_cooldown_days=days)
        client, headers = app.test_client(), auth_for(app, "analyst")
        made = client.post("/v1/orders", json={"orders": [late("K1")]}, headers=headers)
        [suggestion] = made.get_json()["suggestions"]
        client.post(f"/v1/suggestions/{suggestion['suggestion_id']}/dismiss", headers=headers)
        again = client.post("/v1/orders/events", json={"events": [event("K1", 1)]}, headers=headers)
        assert again.get_json()["flagged"] == 1 and len(again.get_json()["suggestions"]) == expected


def test_no_suggestion_once_the_order_has_a_case(make_app, auth_for):
    app = make_app(suggestion_cooldown_days=0)
    client, headers = app.test_client(), auth_for(app, "analyst")
    [made] = client.post("/v1/orders", json={"orders": [late("H1")]}, headers=headers).get_json()[
        "suggestions"
    ]
    client.post(f"/v1/suggestions/{made['suggestion_id']}/accept", headers=headers)
    again = client.post("/v1/orders/events", json={"events": [event("H1", 1)]}, headers=headers)
    assert again.get_json()["flagged"] == 1 and again.get_json()["suggestions"] == []


def test_demo_orders_show_suggestions_at_once(app, get, api_risk_scorer):
    """What `make run` does on an empty database (triage bootstrap --demo-orders)."""
    loaded = OrderService(app.extensions["triage"].store).load_demo(api_risk_scorer)
    page = get("/v1/suggestions?status=open&limit=1000").get_json()["suggestions"]
    assert len(page) == len(loaded.suggestions) > 0
    assert {s["category"] for s in page} <= {"shipping_delay", "not_received"}


def test_the_registry_champion_risk_model_is_served(tmp_path, api_models_dir, api_risk_scorer):
    """Without a test loader: the resource's own loader serves the registry's champion."""
    import shutil

    from api import create_app
    from api.testing import ConformingClient
    from triage.registry import Registry

    models = tmp_path / "models"
    shutil.copytree(api_models_dir, models, ignore=shutil.ignore_patterns(".lock"))
    registry = Registry(models)
    version = registry.create("risk", api_risk_scorer.model, {"kind": "risk_model"})
    registry.promote("risk", version)
    app = create_app(
        {"models_dir": models, "data_dir": tmp_path / "var", "model_reload_seconds": 0}
    )
    app.test_client_class = ConformingClient
    client = app.test_client()
    assert client.get("/readyz").get_json()["models"]["risk"] == {"version": version}
    token = app.extensions["triage"].store.create_key("predict")[1]
    answer = client.post(
        "/v1/orders/risk", json={"order": late("Q1")}, headers={"X-API-Key": token}
    )
    assert answer.status_code == 200 and answer.get_json()["model"]["version"] == version


# -- suggestions close when their order does -------------------------------------------------
@pytest.mark.parametrize(
    ("change", "status"),
    (
        ({"delivered_at": utcnow().isoformat()}, "resolved"),
        ({"canceled": True}, "resolved"),
    ),
)
def test_a_suggestion_closes_when_its_order_is_delivered_or_canceled(post, get, change, status):
    [made] = ingest_late(post, "C1")["suggestions"]
    body = post("/v1/orders", {"orders": [late("C1", **change)]}).get_json()
    assert body["scored"] == 0 and body["suggestions"] == []
    [closed] = body["closed"]
    assert closed["suggestion_id"] == made["suggestion_id"] and closed["status"] == status
    assert closed["decided_at"] is not None
    listed = get(f"/v1/suggestions?status={status}").get_json()["suggestions"]
    assert [s["suggestion_id"] for s in listed] == [made["suggestion_id"]]
    assert get("/v1/suggestions?status=open").get_json()["suggestions"] == []
    decided = post(f"/v1/suggestions/{made['suggestion_id']}/accept", None, "predict")
    assert decided.status_code == 409 and status in decided.get_json()["error"]["message"]


def test_a_delivered_event_closes_the_suggestion(post, get):
    [made] = ingest_late(post, "C2")["suggestions"]
    body = post("/v1/orders/events", {"events": [event("C2", 0.01, "delivered")]}).get_json()
    assert [s["status"] for s in body["closed"]] == ["resolved"] and body["scored"] == 0
    shown = get("/v1/suggestions?order_id=C2").get_json()["suggestions"]
    assert [(s["suggestion_id"], s["status"]) for s in shown] == [
        (made["suggestion_id"], "resolved")
    ]
