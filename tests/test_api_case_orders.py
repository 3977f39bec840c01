"""Order-aware triage through HTTP: a case naming a stored order answers with the order, its
category moved by the order's state, and one order has one case (issue 13). Every response is
checked against the OpenAPI document (ConformingClient)."""

import pytest

from tests.test_api_orders import event, order
from triage.orders.risk.scoring import RiskScorer

AMBIGUOUS = "where is my stuff??"


@pytest.fixture
def app(make_app, order_aware_router):
    app = make_app()
    models = app.extensions["triage"].models
    models.add_loader("cases", lambda registry, taxonomy: order_aware_router)
    models.load()
    return app


#: one stored order per state, with the events that make it so
STATES = {
    "not_shipped": ([order("NS-1001", 1, 4)], [event("NS-1001", 0.5, "label_created")]),
    "in_transit": (
        [order("IT-1002", 3, 2)],
        [event("IT-1002", 2, "picked_up"), event("IT-1002", 1, "arrived_at_hub")],
    ),
    "delivered": (
        [order("DL-1003", 6, -3)],
        [event("DL-1003", 4, "picked_up"), event("DL-1003", 1, "delivered", "Shanghai")],
    ),
    "canceled": ([order("CX-1004", 2, 3, canceled=True)], []),
}


@pytest.fixture
def post(client, auth):
    return lambda path, body=None, role="predict": client.post(path, json=body, headers=auth(role))


@pytest.fixture
def get(client, auth):
    return lambda path, role="analyst": client.get(path, headers=auth(role))


def _store(post, *states):
    for state in states:
        orders, events = STATES[state]
        response = post("/v1/orders", {"orders": orders, "events": events}, "analyst")
        assert response.status_code == 200, response.get_json()


def _categorize(post, text, order_id=None, **extra):
    body = {"text": text, **extra}
    if order_id is not None:
        body["order_id"] = order_id
    response = post("/v1/cases/categorize", body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


# -- the order object -----------------------------------------------------------------------
@pytest.mark.parametrize("state", list(STATES))
def test_the_order_object_for_each_state(post, state):
    _store(post, state)
    order_id = STATES[state][0][0]["order_id"]
    body = _categorize(post, "hello, any news about this order?", order_id)
    order = body["order"]
    assert order["order_id"] == order_id and order["status"] == state
    assert order["promised_at"] == STATES[state][0][0]["promised_date"]
    assert order["text_only"]["category"] and isinstance(order["evidence"], list)
    if state in ("not_shipped", "in_transit"):
        assert 0 <= order["risk"]["p_late"] <= 1 and order["risk"]["model_version"]
    else:
        assert order["risk"] is None
    if state == "delivered":
        assert order["delivered_at"] and order["last_event"]["type"] == "delivered"
        assert order["last_event"]["place"] == "Shanghai" and order["days_late"] > 0
    if state == "in_transit":
        assert order["last_event"]["type"] == "arrived_at_hub" and order["delivered_at"] is None
    if state == "canceled":
        assert order["last_event"] is None and order["days_late"] == 0
    assert order["case"]["created"] is True and order["case"]["origin"] == "filed"


def test_the_order_moves_an_ambiguous_text_the_right_way(post):
    _store(post, "in_transit", "delivered")
    moving = _categorize(post, AMBIGUOUS, "IT-1002", file=False)
    arrived = _categorize(post, AMBIGUOUS, "DL-1003", file=False)
    assert moving["category"] == "shipping_delay"
    assert arrived["category"] == "not_received"
    # the words alone said the same for both; the delivered order's status moved it
    assert moving["order"]["text_only"] == arrived["order"]["text_only"]
    assert arrived["order"]["text_only"]["category"] != "not_received"
    assert arrived["order"]["evidence"][0] == {
        "fact": "status",
        "value": "delivered",
        "weight": arrived["order"]["evidence"][0]["weight"],
    }
    assert arrived["order"]["evidence"][0]["weight"] > 0
    # the details the order knows are not asked again, and the answer says where they came from
    asked = {d["id"] for d in arrived["missing_details"]}
    assert "order_id" not in asked and "delivery_date" not in asked
    found = {d["id"]: d for d in arrived["order"]["details"]}
    assert found["order_id"]["value"] == "DL-1003" and found["order_id"]["found_in"] == "order"
    assert found["delivery_date"]["value"] == arrived["order"]["delivered_at"][:10]


def test_a_clear_text_is_not_flipped(post, order_aware_router):
    _store(post, "delivered", "in_transit")
    text = "I want a refund for this order, please send me the money back"
    alone = order_aware_router.predict([text])[0]
    assert alone.category == "return_refund"
    for order_id in ("DL-1003", "IT-1002"):
        body = _categorize(post, text, order_id, file=False)
        assert body["category"] == "return_refund" == body["order"]["text_only"]["category"]


def test_without_a_stored_order_the_answer_is_the_texts_alone(post, order_aware_router):
    _store(post, "delivered")
    for order_id in (None, "NOPE-404"):  # none given; an id the service does not know
        body = _categorize(post, AMBIGUOUS, order_id)
        assert body["order"] is None and body["order_id"] == order_id
        alone = order_aware_router.predict([AMBIGUOUS])[0]
        assert body["category"] == alone.category and body["confidence"] == alone.confidence
        assert body["top"] == alone.top and body["missing_details"] == alone.missing_details


def test_an_order_id_in_the_text_of_any_shape(post, get):
    _store(post, "delivered")
    body = _categorize(post, "order DL-1003: where is my stuff?? nothing at my door")
    assert body["order_id"] == "DL-1003" and body["order"]["status"] == "delivered"
    # an Amazon-shaped id the service does not store: found as an entity, no order, no error
    body = _categorize(post, "where is order 113-6082714-3319508 ??")
    assert body["order"] is None
    assert any(e["type"] == "order_id" for e in body["entities"])
    assert get("/v1/cases").get_json()["cases"][0]["order_id"] == "DL-1003"


def test_a_batch_naming_several_orders_reads_each_as_one_request_does(post):
    """One read for many orders (IN ...) gives each the context a request naming it alone
    gets (a single order is read with an equality)."""
    _store(post, *STATES)
    ids = [STATES[state][0][0]["order_id"] for state in STATES]
    alone = [_categorize(post, AMBIGUOUS, order_id, file=False)["order"] for order_id in ids]
    body = {"cases": [{"text": AMBIGUOUS, "order_id": i, "file": False} for i in ids]}
    response = post("/v1/cases/categorize", body)
    assert response.status_code == 200, response.get_json()
    assert [r["order"] for r in response.get_json()["results"]] == alone
    # a text naming two stored orders: the first it names, read with the other
    both = _categorize(post, "IT-1002 or DL-1003: where is it?", file=False)["order"]
    story = ("order_id", "status", "last_event", "days_late", "risk", "suggestion", "case")
    assert {k: both[k] for k in story} == {k: alone[ids.index("IT-1002")][k] for k in story}


# -- one order, one case --------------------------------------------------------------------
def _late_with_suggestion(post, get, order_id="LT-2001"):
    orders = [order(order_id, 8, -3)]
    events = [event(order_id, 6, "picked_up")]
    assert post("/v1/orders", {"orders": orders, "events": events}, "analyst").status_code == 200
    [suggestion] = get(f"/v1/suggestions?order_id={order_id}").get_json()["suggestions"]
    assert suggestion["status"] == "open"
    return suggestion


def test_a_case_filed_for_an_order_with_an_open_suggestion_accepts_it(post, get):
    suggestion = _late_with_suggestion(post, get)
    body = _categorize(post, "still nothing, what is going on", "LT-2001")
    case = body["order"]["case"]
    assert case["created"] is True and case["origin"] == "filed"
    assert body["order"]["suggestion"] == {"id": suggestion["suggestion_id"], "status": "accepted"}
    [after] = get("/v1/suggestions?order_id=LT-2001").get_json()["suggestions"]
    assert after["status"] == "accepted" and after["case_id"] == case["id"]
    [stored] = get("/v1/cases?order_id=LT-2001").get_json()["cases"]
    assert stored["id"] == case["id"] and stored["suggestion_id"] == suggestion["suggestion_id"]
    # accepting the (now accepted) suggestion again opens no second case
    assert post(f"/v1/suggestions/{suggestion['suggestion_id']}/accept").status_code == 409
    assert len(get("/v1/cases?order_id=LT-2001").get_json()["cases"]) == 1


def test_an_order_with_an_open_case_gets_no_new_suggestion(app, post, get, api_risk_scorer):
    # Only a broken promise is flagged here (risk 1.0 whatever the model): the tiny test model
    # scores an order on time anywhere from 0.05 to 0.5 depending on the hour of the day (this
    # test failed after 12:00 and at 23:40 UTC with the model's own threshold, 0.36)
    strict = RiskScorer(api_risk_scorer.model, version=api_risk_scorer.version, threshold=0.99)
    models = app.extensions["triage"].models
    models.add_loader("risk", lambda registry, taxonomy: strict, required=False)
    models.load()
    orders = [order("LT-2002", 1, 6)]  # bought a day ago, due in 6 days: no suggestion
    assert post("/v1/orders", {"orders": orders}, "analyst").status_code == 200
    assert get("/v1/suggestions?order_id=LT-2002").get_json()["suggestions"] == []
    case = _categorize(post, "where is my parcel", "LT-2002")["order"]["case"]
    # the order goes late: re-scored on the new event, flagged, yet no suggestion
    late = [order("LT-2002", 8, -3)]
    body = {"orders": late, "events": [event("LT-2002", 6, "picked_up")]}
    assert post("/v1/orders", body, "analyst").get_json()["suggestions"] == []
    assert get("/v1/suggestions?order_id=LT-2002").get_json()["suggestions"] == []
    # resolved, the order may be suggested again
    assert post(f"/v1/cases/{case['id']}/resolve", role="analyst").status_code == 200
    body = {"events": [event("LT-2002", 0.5, "arrived_at_hub")]}
    made = post("/v1/orders/events", body, "analyst").get_json()["suggestions"]
    assert [s["order_id"] for s in made] == ["LT-2002"]


def test_two_cases_for_one_order_are_one_case(post, get):
    _store(post, "in_transit")
    first = _categorize(post, "where is it?", "IT-1002")["order"]["case"]
    second = _categorize(post, "hello?? still waiting", "IT-1002")["order"]["case"]
    assert first["created"] is True and second["created"] is False
    assert second["id"] == first["id"]
    assert len(get("/v1/cases?order_id=IT-1002").get_json()["cases"]) == 1
    # categorize only: nothing filed
    _store(post, "delivered")
    assert _categorize(post, AMBIGUOUS, "DL-1003", file=False)["order"]["case"] is None
    assert get("/v1/cases?order_id=DL-1003").get_json()["cases"] == []


def test_a_batch_naming_one_order_twice_files_one_case(post, get):
    _store(post, "in_transit")
    body = {"cases": [{"text": "where is it", "order_id": "IT-1002"}] * 2}
    results = post("/v1/cases/categorize", body).get_json()["results"]
    assert [r["order"]["case"]["created"] for r in results] == [True, False]
    assert len(get("/v1/cases?order_id=IT-1002").get_json()["cases"]) == 1


# -- the analysts' endpoints ----------------------------------------------------------------
def test_list_get_and_resolve_cases(post, get):
    _store(post, "in_transit", "delivered")
    _categorize(post, AMBIGUOUS, "IT-1002")
    filed = _categorize(post, AMBIGUOUS, "DL-1003")["order"]["case"]
    page = get("/v1/cases?limit=1").get_json()
    assert len(page["cases"]) == 1 and page["next_offset"] == 1
    case = get(f"/v1/cases/{filed['id']}").get_json()
    assert case["origin"] == "filed" and case["status"] == "open"
    assert case["predicted_category"] == "not_received"
    assert case["text_category"] != "not_received" and case["order"]["status"] == "delivered"
    resolved = post(f"/v1/cases/{filed['id']}/resolve", role="analyst")
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    assert resolved.get_json()["resolved_at"]
    assert post(f"/v1/cases/{filed['id']}/resolve", role="analyst").status_code == 409
    assert [c["order_id"] for c in get("/v1/cases?status=open").get_json()["cases"]] == ["IT-1002"]
    # a new case for the order after the first was resolved
    again = _categorize(post, "still not here", "DL-1003")["order"]["case"]
    assert again["created"] is True and again["id"] != filed["id"]


@pytest.mark.parametrize(
    ("path", "status"),
    (
        ("/v1/cases/case_nope", 404),
        ("/v1/cases/case_0123456789abcdef", 404),
        ("/v1/cases?status=closed", 422),
        ("/v1/cases?origin=phone", 422),
        ("/v1/cases?limit=0", 422),
    ),
)
def test_case_endpoints_refuse_bad_requests(get, path, status):
    assert get(path).status_code == status


def test_case_endpoints_need_the_analyst_role(client, auth, post):
    _store(post, "in_transit")
    case = _categorize(post, "where is it", "IT-1002")["order"]["case"]
    assert client.get("/v1/cases", headers=auth("predict")).status_code == 403
    assert client.get(f"/v1/cases/{case['id']}", headers=auth("predict")).status_code == 403
    resolve = f"/v1/cases/{case['id']}/resolve"
    assert client.post(resolve, headers=auth("predict")).status_code == 403
    assert client.get("/v1/cases").status_code == 401
    assert client.post(resolve, headers=auth("admin")).status_code == 200
