"""Feedback and the prediction log: the round trip from a prediction to its correction."""

import pytest

CATEGORIZE = "/v1/cases/categorize"


@pytest.fixture
def predicted(client, auth):
    response = client.post(CATEGORIZE, json={"text": "我的包裹三周了还没到"}, headers=auth())
    return response.get_json()


def test_feedback_round_trip(app, client, auth, predicted):
    pid = predicted["prediction_id"]
    correction = {"prediction_id": pid, "category": "not_received", "note": "买家确认没收到"}
    created = client.post("/v1/feedback", json=correction, headers=auth("analyst"))
    assert created.status_code == 201
    body = created.get_json()
    assert body["prediction_id"] == pid and body["category"] == "not_received"
    assert body["predicted_category"] == predicted["category"]
    assert body["note"] == "买家确认没收到" and body["created_at"].endswith("+00:00")

    shown = client.get(f"/v1/predictions/{pid}", headers=auth("analyst")).get_json()
    assert shown["category"] == predicted["category"]
    assert [f["category"] for f in shown["feedback"]] == ["not_received"]

    second = {"prediction_id": pid, "category": "shipping_delay"}
    assert client.post("/v1/feedback", json=second, headers=auth("admin")).status_code == 201
    shown = client.get(f"/v1/predictions/{pid}", headers=auth("analyst")).get_json()
    assert [f["category"] for f in shown["feedback"]] == ["not_received", "shipping_delay"]

    corrections = app.extensions["triage"].store.corrections()
    assert [(c["prediction_id"], c["category"]) for c in corrections] == [
        (pid, "not_received"),
        (pid, "shipping_delay"),
    ]
    assert corrections[0]["text"] == "我的包裹三周了还没到"


def test_unknown_prediction_is_404_and_writes_nothing(app, client, auth):
    body = {"prediction_id": "no-such-id", "category": "other"}
    response = client.post("/v1/feedback", json=body, headers=auth("analyst"))
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "prediction_not_found"
    assert app.extensions["triage"].store.corrections() == []


def test_unknown_category_is_422(app, client, auth, predicted):
    body = {"prediction_id": predicted["prediction_id"], "category": "teleportation"}
    response = client.post("/v1/feedback", json=body, headers=auth("analyst"))
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == "invalid_value" and error["details"]["field"] == "category"
    assert "other" in error["details"]["allowed"] and "teleportation" not in error["message"]
    assert app.extensions["triage"].store.corrections() == []


@pytest.mark.parametrize(
    ("body", "status", "field"),
    (
        ({"category": "other"}, 400, "prediction_id"),
        ({"prediction_id": "x"}, 400, "category"),
        ({"prediction_id": 5, "category": "other"}, 400, "prediction_id"),
        ({"prediction_id": "x", "category": "other", "note": 3}, 400, "note"),
        ({"prediction_id": "x", "category": "other", "extra": 1}, 400, "extra"),
        ({"prediction_id": "", "category": "other"}, 422, "prediction_id"),
        ({"prediction_id": "x", "category": "other", "note": "n" * 2001}, 422, "note"),
    ),
)
def test_invalid_feedback(client, auth, body, status, field):
    response = client.post("/v1/feedback", json=body, headers=auth("analyst"))
    assert response.status_code == status
    assert response.get_json()["error"]["details"]["field"] == field


def test_feedback_needs_json(client, auth):
    response = client.post("/v1/feedback", data="category=other", headers=auth("analyst"))
    assert response.status_code == 415


def test_prediction_log_pages_newest_first(client, auth):
    texts = [f"order {i} never arrived" for i in range(5)]
    ids = [
        client.post(CATEGORIZE, json={"text": t}, headers=auth()).get_json()["prediction_id"]
        for t in texts
    ]
    first = client.get("/v1/predictions?limit=3", headers=auth("analyst")).get_json()
    assert [p["id"] for p in first["predictions"]] == ids[::-1][:3]
    rest = client.get(
        "/v1/predictions", query_string={"before": first["next_before"]}, headers=auth("analyst")
    ).get_json()
    assert [p["id"] for p in rest["predictions"]] == ids[::-1][3:]


@pytest.mark.parametrize(
    ("query", "status"),
    (("limit=abc", 400), ("limit=0", 422), ("limit=1001", 422), ("before=yesterday", 400)),
)
def test_prediction_log_bad_query(client, auth, query, status):
    assert client.get(f"/v1/predictions?{query}", headers=auth("analyst")).status_code == status


def test_unknown_prediction_is_404(client, auth):
    response = client.get("/v1/predictions/nope", headers=auth("analyst"))
    assert response.status_code == 404
