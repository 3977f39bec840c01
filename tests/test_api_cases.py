"""POST /v1/cases/categorize: answers, the prediction log, and every kind of bad request."""

import io
import json

import pytest

URL = "/v1/cases/categorize"
ZH = "我的包裹显示已签收但是我没收到，订单号112-4839201-7734512"
EN = "my refund of $30 never arrived, email me at jane.doe@example.com or call +1 415-555-0134"


def logged(app):
    return app.extensions["triage"].store.list_predictions(limit=1000)


def test_one_case_gets_a_full_answer(client, auth, app):
    response = client.post(
        URL, json={"text": ZH, "role": "buyer", "order_id": "A-1"}, headers=auth()
    )
    assert response.status_code == 200
    body = response.get_json()
    taxonomy = app.extensions["triage"].taxonomy
    assert body["category"] in taxonomy
    assert body["name_zh"] == taxonomy[body["category"]].name_zh
    assert body["name_en"] == taxonomy[body["category"]].name_en
    assert 0 <= body["confidence"] <= 1 and len(body["top"]) == 3
    assert body["top"][0]["category"] == body["category"]
    assert body["language"] == "zh"
    assert {"type": "order_id", "value": "112-4839201-7734512"}.items() <= body["entities"][
        0
    ].items()
    assert body["model"]["name"] == "cases" and body["model"]["version"]
    assert body["order_id"] == "A-1" and body["role"] == "buyer" and body["logged"] is True
    [row] = logged(app)
    assert row["id"] == body["prediction_id"] and row["category"] == body["category"]
    assert row["filer_role"] == "buyer" and row["order_id"] == "A-1"
    assert row["created_at"].tzinfo is not None


def test_missing_details_follow_the_case_language(client, auth):
    zh = client.post(URL, json={"text": "我要退货退款"}, headers=auth()).get_json()
    en = client.post(URL, json={"text": "I want to return this and get a refund"}, headers=auth())
    for detail in zh["missing_details"]:
        assert any("\u4e00" <= ch <= "\u9fff" for ch in detail["prompt"])
    for detail in en.get_json()["missing_details"]:
        assert detail["prompt"].startswith("Please add")


def test_forced_language(client, auth):
    body = client.post(URL, json={"text": EN, "lang": "zh"}, headers=auth()).get_json()
    assert body["language"] == "zh"


def test_logged_text_is_redacted(client, auth, app):
    client.post(URL, json={"text": EN}, headers=auth())
    [row] = logged(app)
    assert "jane.doe@example.com" not in row["text"] and "415-555-0134" not in row["text"]
    assert "[EMAIL]" in row["text"] and "[PHONE]" in row["text"]


def test_batch_keeps_order_and_logs_every_case(client, auth, app):
    cases = [{"text": ZH}, {"text": EN, "role": "seller"}, {"text": "account suspended 账号被封"}]
    response = client.post(URL, json={"cases": cases}, headers=auth())
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["language"] for r in results] == ["zh", "en", "mixed"]
    assert len({r["prediction_id"] for r in results}) == 3
    rows = logged(app)
    assert {r["id"] for r in rows} == {r["prediction_id"] for r in results}
    assert len({r["request_id"] for r in rows}) == 1


def test_batch_limit(make_app):
    app = make_app(batch_limit=3)
    client = app.test_client()
    token = app.extensions["triage"].store.create_key("predict")[1]
    headers = {"Authorization": f"Bearer {token}"}
    ok = client.post(URL, json={"cases": [{"text": EN}] * 3}, headers=headers)
    assert ok.status_code == 200
    over = client.post(URL, json={"cases": [{"text": EN}] * 4}, headers=headers)
    assert over.status_code == 413
    assert over.get_json()["error"]["code"] == "too_many_items"
    assert over.get_json()["error"]["details"] == {"field": "cases", "limit": 3}
    assert len(logged(app)) == 3


def test_default_batch_limit_is_1000(client, auth):
    over = client.post(URL, json={"cases": [{"text": "x"}] * 1001}, headers=auth())
    assert over.status_code == 413 and over.get_json()["error"]["details"]["limit"] == 1000


@pytest.mark.parametrize(
    ("body", "status", "code", "field"),
    (
        ({"text": 3}, 400, "wrong_type", "text"),
        ({"text": None}, 400, "wrong_type", "text"),
        ({}, 400, "missing_field", "text"),
        ({"txt": "hello"}, 400, "missing_field", "text"),
        ({"text": "hello", "colour": "red"}, 400, "unknown_field", "colour"),
        ([{"text": "hello"}], 400, "wrong_type", "(body)"),
        ("hello", 400, "wrong_type", "(body)"),
        ({"cases": "hello"}, 400, "wrong_type", "cases"),
        ({"cases": [{"text": "ok"}, {"text": ["a"]}]}, 400, "wrong_type", "cases[1].text"),
        ({"cases": [{"text": "ok"}, {}]}, 400, "missing_field", "cases[1].text"),
        ({"cases": [{"text": "ok"}], "text": "x"}, 400, "unknown_field", "text"),
        ({"text": ""}, 422, "invalid_value", "text"),
        ({"text": " \n\t "}, 422, "invalid_value", "text"),
        ({"text": "ok", "lang": "fr"}, 422, "invalid_value", "lang"),
        ({"text": "ok", "role": "carrier"}, 422, "invalid_value", "role"),
        ({"text": "ok", "order_id": ""}, 422, "invalid_value", "order_id"),
        ({"cases": []}, 422, "invalid_value", "cases"),
        ({"cases": [{"text": "ok"}, {"text": "  "}]}, 422, "invalid_value", "cases[1].text"),
        ({"text": "a\u0000b"}, 422, "invalid_value", "text"),
    ),
)
def test_invalid_bodies_name_the_field(client, auth, app, body, status, code, field):
    response = client.post(URL, json=body, headers=auth())
    assert response.status_code == status, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == code and error["details"]["field"] == field
    assert error["message"].startswith(field)
    assert logged(app) == []


@pytest.mark.parametrize(
    ("data", "message"),
    (
        (b"{bad json", "not valid JSON"),
        (b"", "empty"),
        (b'{"text": NaN}', "not valid JSON"),
        (b'{"text": "\xff\xfe"}', "not valid UTF-8"),
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ),
)
def test_malformed_json_is_400(client, auth, app, data, message):
    headers = {**auth(), "Content-Type": "application/json"}
    response = client.post(URL, data=data, headers=headers)
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"
    assert message in response.get_json()["error"]["message"]
    assert logged(app) == []


def test_unpaired_surrogate_is_400(client, auth):
    data = b'{"text": "bad \\ud800 half"}'
    response = client.post(URL, data=data, headers={**auth(), "Content-Type": "application/json"})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_string"


@pytest.mark.parametrize(
    "content_type",
    ("text/plain", "application/x-www-form-urlencoded", None, "application/json; charset=latin-1"),
)
def test_wrong_content_type_is_415(client, auth, content_type):
    headers = auth() | ({"Content-Type": content_type} if content_type else {})
    response = client.post(URL, data=json.dumps({"text": "hello"}), headers=headers)
    assert response.status_code == 415
    assert response.get_json()["error"]["code"] == "unsupported_media_type"


def test_text_over_64_kb_is_413(client, auth, app):
    text = "包" * (64 * 1024 // 3 + 1)  # 3 bytes each in UTF-8: just over 64 KB, under 64 K chars
    response = client.post(URL, json={"cases": [{"text": "ok"}, {"text": text}]}, headers=auth())
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "text_too_large" and error["details"]["field"] == "cases[1].text"
    assert error["details"]["limit"] == 64 * 1024
    assert logged(app) == []
    exactly = ("my parcel is late " * 4000)[: 64 * 1024]
    assert client.post(URL, json={"text": exactly}, headers=auth()).status_code == 200


def test_body_over_2_mb_is_413(client, auth, app):
    cases = [{"text": "a" * 60_000} for _ in range(40)]  # about 2.4 MB
    response = client.post(URL, json={"cases": cases}, headers=auth())
    assert response.status_code == 413
    assert response.get_json()["error"]["code"] == "body_too_large"
    assert logged(app) == []


def test_body_over_limit_without_content_length_is_413(client, auth):
    """A chunked body (no Content-Length) is cut at the limit while it is read."""
    data = b'{"text": "' + b"a" * 3_000_000 + b'"}'
    headers = {**auth(), "Content-Type": "application/json", "Transfer-Encoding": "chunked"}
    response = client.post(
        URL,
        input_stream=io.BytesIO(data),
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True},  # as gunicorn sets for chunked
    )
    assert response.request.content_length is None
    assert response.status_code == 413


def test_not_ready_is_503(make_app, tmp_path):
    from api import create_app

    app = create_app({"models_dir": tmp_path / "empty", "data_dir": tmp_path / "var2"})
    token = app.extensions["triage"].store.create_key("predict")[1]
    response = app.test_client().post(
        URL, json={"text": "hello"}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "not_ready"
    assert response.headers["Retry-After"]


def test_database_down_is_503_and_nothing_is_answered(app, client, auth, monkeypatch):
    from triage.errors import StoreError

    headers = auth()
    store = app.extensions["triage"].store

    def down(records):
        raise StoreError("database unavailable: disk I/O error")

    monkeypatch.setattr(store, "log_predictions", down)
    response = client.post(URL, json={"text": EN}, headers=headers)
    assert response.status_code == 503
    assert response.get_json()["error"]["code"] == "database_unavailable"
    assert response.headers["Retry-After"]


def test_log_without_db_answers_unlogged(make_app, monkeypatch):
    from triage.errors import StoreError

    app = make_app(log_without_db=True)
    store = app.extensions["triage"].store
    token = store.create_key("predict")[1]

    def down(records):
        raise StoreError("database unavailable: locked")

    monkeypatch.setattr(store, "log_predictions", down)
    response = app.test_client().post(
        URL, json={"text": EN}, headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200 and response.get_json()["logged"] is False


def test_null_optional_fields_are_accepted(client, auth):
    response = client.post(
        "/v1/cases/categorize",
        json={"text": "where is my parcel", "order_id": None, "role": None, "lang": None},
        headers=auth("predict"),
    )
    assert response.status_code == 200, response.get_json()
    response = client.post(
        "/v1/cases/categorize", json={"text": "where is my parcel", "order_id": "a\u0000b"},
        headers=auth("predict"),
    )
    assert response.status_code == 422 and "NUL" in response.get_json()["error"]["message"]
