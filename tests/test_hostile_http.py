"""Hostile input on every HTTP operation: each gets a clear 4xx in the error format (or, for
text that is merely unusual, a normal answer that stores it as data), and nothing partial is
stored: every table but the rate counters and every file of the registry are compared before
and after each request.

The catalogue is a table: `BODY_ATTACKS` are sent to every operation that reads a JSON body,
`FIELD_ATTACKS` put a hostile value into each operation's main string field, `PATH_ATTACKS`
and `QUERY_ATTACKS` cover the operations without a body, `ACCEPTED_AS_DATA` lists the odd but
legitimate texts (emoji, right-to-left, HTML, SQL...) that must be answered and stored verbatim.
`test_the_catalogue_covers_every_operation` fails when an operation of the document is missing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import uuid
from dataclasses import dataclass, field
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import log_prediction
from triage.store import PredictionRecord, utcnow
from triage.store_tables import metadata as tables

SUGGESTION_ID = "sug_hostile000001"
MB = 1024 * 1024
#: tables whose content a rejected request must leave as it was (api_key_usage counts requests)
GUARDED = tuple(t for t in tables.sorted_tables if t.name != "api_key_usage")


def _order(order_id: str = "HOSTILE-9") -> dict[str, Any]:
    now = dt.datetime.now(dt.UTC)
    return {
        "order_id": order_id,
        "purchased_at": (now - dt.timedelta(days=1)).isoformat(),
        "promised_date": (now + dt.timedelta(days=3)).date().isoformat(),
    }


def _event() -> dict[str, Any]:
    return {"order_id": "HOSTILE-1", "time": utcnow().isoformat(), "event_type": "picked_up"}


@dataclass(frozen=True)
class Operation:
    """An operation that reads a JSON body: a valid body and where its main string lives."""

    name: str
    path: str
    role: str
    body: Any  # a callable (prediction id) -> valid body
    field: tuple  # path of the main string field in the body
    #: expected (status, code) for a 1 MB string in that field
    huge: tuple[int, str]
    #: expected (status, code) for an empty / whitespace-only string in that field
    empty: tuple[int, str]
    blank: tuple[int, str]
    batch: tuple | None = None  # path of the list that a huge batch overfills, and its item


OPERATIONS = (
    Operation(
        "categorize",
        "/v1/cases/categorize",
        "predict",
        lambda pid: {"text": "my parcel never arrived"},
        ("text",),
        (413, "text_too_large"),
        (422, "invalid_value"),
        (422, "invalid_value"),
        batch=("cases", {"text": "a"}),
    ),
    Operation(
        "feedback",
        "/v1/feedback",
        "analyst",
        lambda pid: {"prediction_id": pid, "category": "not_received", "note": "ok"},
        ("note",),
        (422, "invalid_value"),
        (201, None),  # an empty note is a note
        (201, None),
    ),
    Operation(
        "promote",
        "/v1/models/cases/promote",
        "admin",
        lambda pid: {"version": "v1"},
        ("version",),
        (422, "invalid_value"),
        (422, "invalid_value"),
        (422, "invalid_value"),
    ),
    Operation(
        "risk",
        "/v1/orders/risk",
        "predict",
        lambda pid: {"order": _order()},
        ("order", "order_id"),
        (422, "invalid_value"),
        (422, "invalid_value"),
        (422, "invalid_value"),
        batch=("orders", _order()),
    ),
    Operation(
        "orders",
        "/v1/orders",
        "analyst",
        lambda pid: {"orders": [_order("HOSTILE-2")]},
        ("orders", 0, "order_id"),
        (422, "invalid_value"),
        (422, "invalid_value"),
        (422, "invalid_value"),
        batch=("orders", _order()),
    ),
    Operation(
        "events",
        "/v1/orders/events",
        "analyst",
        lambda pid: {"events": [_event()]},
        ("events", 0, "location"),
        (422, "invalid_value"),
        (200, None),  # an empty location is "unknown"
        (200, None),
        batch=("events", _event()),
    ),
    Operation(
        "accept",
        f"/v1/suggestions/{SUGGESTION_ID}/accept",
        "predict",
        lambda pid: {"text": "order HOSTILE-1 is late, please check"},
        ("text",),
        (413, "text_too_large"),
        (422, "invalid_value"),
        (422, "invalid_value"),
    ),
)


@dataclass(frozen=True)
class Attack:
    """Raw bytes (or a JSON value) and headers that are not a usable request."""

    data: bytes | None = None
    json: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    status: int = 400
    codes: tuple[str, ...] = ("invalid_json",)
    chunked: bool = False


def _nested(depth: int) -> bytes:
    return b'{"deep": ' + b"[" * depth + b"]" * depth + b"}"


#: attacks on the body as a whole, the same for every operation that reads one
BODY_ATTACKS: dict[str, Attack] = {
    "empty body": Attack(data=b""),
    "whitespace body": Attack(data=b" \r\n\t "),
    "invalid UTF-8": Attack(data=b'{"text": "\xff\xfe\xc3\x28"}'),
    "binary (PNG header)": Attack(data=b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\xff\xd8\x00"),
    "raw NUL byte": Attack(data=b'{"text": "a\x00b"}'),
    "UTF-8 BOM": Attack(data=b'\xef\xbb\xbf{"text": "a"}'),
    "NaN": Attack(data=b'{"text": NaN}'),
    "Infinity": Attack(data=b'{"version": Infinity}'),
    "truncated JSON": Attack(data=b'{"text": "abc'),
    "nested 100,000 deep": Attack(data=_nested(100_000)),
    "nested 500 deep": Attack(data=_nested(500), codes=("unknown_field", "missing_field")),
    "array body": Attack(json=[{"text": "a"}], codes=("wrong_type",)),
    "string body": Attack(json="text", codes=("wrong_type",)),
    "number body": Attack(json=12, codes=("wrong_type",)),
    "null body": Attack(data=b"null", codes=("wrong_type",)),
    "true body": Attack(json=True, codes=("wrong_type",)),
    "unpaired surrogate": Attack(data=b'{"x": "\\udc00"}', codes=("invalid_string",)),
    "over 2 MB": Attack(
        data=b'{"text": "' + b"a" * (2 * MB + 10) + b'"}', status=413, codes=("body_too_large",)
    ),
    "over 2 MB chunked": Attack(
        data=b'{"text": "' + b"a" * (3 * MB) + b'"}',
        status=413,
        codes=("body_too_large",),
        chunked=True,
    ),
    "text/plain": Attack(
        data=b'{"text": "a"}',
        headers={"Content-Type": "text/plain"},
        status=415,
        codes=("unsupported_media_type",),
    ),
    "form encoded": Attack(
        data=b"text=a",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        status=415,
        codes=("unsupported_media_type",),
    ),
    "multipart": Attack(
        data=b"--x\r\nContent-Disposition: form-data; name=text\r\n\r\na\r\n--x--\r\n",
        headers={"Content-Type": "multipart/form-data; boundary=x"},
        status=415,
        codes=("unsupported_media_type",),
    ),
    "latin-1 charset": Attack(
        data=b'{"text": "caf\xe9"}',
        headers={"Content-Type": "application/json; charset=latin-1"},
        status=415,
        codes=("unsupported_media_type",),
    ),
    "no content type": Attack(
        data=b'{"text": "a"}',
        headers={"Content-Type": ""},
        status=415,
        codes=("unsupported_media_type",),
    ),
}


def _put(body: Any, where: tuple, value: Any) -> Any:
    body = json.loads(json.dumps(body))
    target = body
    for part in where[:-1]:
        target = target[part]
    target[where[-1]] = value
    return body


#: a hostile value for the main string field -> (status, code) or the Operation attribute
#: that holds the expected answer
FIELD_ATTACKS: dict[str, tuple[Any, Any]] = {
    "1 MB string": ("x" * MB, "huge"),
    "empty string": ("", "empty"),
    "whitespace only": (" \t\n\u3000 ", "blank"),
    "NUL character": ("a\u0000b", (422, "invalid_value")),
    "number": (12345, (400, "wrong_type")),
    "list": (["a", "b"], (400, "wrong_type")),
    "object": ({"$ne": ""}, (400, "wrong_type")),
    "boolean": (True, (400, "wrong_type")),
}


def _expected(operation: Operation, expected: Any) -> tuple[int, str | None]:
    return getattr(operation, expected) if isinstance(expected, str) else expected


@dataclass(frozen=True)
class Probe:
    """A request on an operation without a body: path and query attacks."""

    method: str
    path: str
    role: str | None
    status: int
    code: str | None
    body: Any = None


PATH_ATTACKS: dict[str, Probe] = {
    "prediction id traversal": Probe(
        "GET", "/v1/predictions/..%2F..%2Fetc%2Fpasswd", "analyst", 404, "not_found"
    ),
    "prediction id dot-dot": Probe("GET", "/v1/predictions/..", "analyst", 404, None),
    "prediction id SQL": Probe(
        "GET", "/v1/predictions/'%20OR%20'1'='1", "analyst", 404, "prediction_not_found"
    ),
    "prediction id 10 KB": Probe(
        "GET", "/v1/predictions/" + "a" * 10_000, "analyst", 404, "prediction_not_found"
    ),
    "prediction id NUL": Probe("GET", "/v1/predictions/a%00b", "analyst", 404, None),
    "model name traversal (promote)": Probe(
        "POST", "/v1/models/..%2F..%2Ftmp/promote", "admin", 404, "not_found", {"version": "v1"}
    ),
    "model name dot-dot (promote)": Probe(
        "POST", "/v1/models/../promote", "admin", 404, "model_not_found", {"version": "v1"}
    ),
    "model name of a file (promote)": Probe(
        "POST",
        "/v1/models/registry.json/promote",
        "admin",
        404,
        "model_not_found",
        {"version": "v1"},
    ),
    "model name dot-dot (rollback)": Probe("POST", "/v1/models/../rollback", "admin", 404, None),
    "model name dot (rollback)": Probe("POST", "/v1/models/./rollback", "admin", 404, None),
    "model name traversal (rollback)": Probe(
        "POST", "/v1/models/..%2Fcases/rollback", "admin", 404, "not_found"
    ),
    "model name hidden folder (rollback)": Probe(
        "POST", "/v1/models/.lock/rollback", "admin", 404, "model_not_found"
    ),
    "model name script (rollback)": Probe(
        "POST", "/v1/models/%3Cscript%3E/rollback", "admin", 404, "model_not_found"
    ),
    "suggestion id traversal (accept)": Probe(
        "POST", "/v1/suggestions/..%2F..%2Fx/accept", "predict", 404, "not_found"
    ),
    "suggestion id SQL (dismiss)": Probe(
        "POST", "/v1/suggestions/x'%20OR%201=1--/dismiss", "predict", 404, "not_found"
    ),
    "suggestion id 10 KB (dismiss)": Probe(
        "POST", "/v1/suggestions/" + "s" * 10_000 + "/dismiss", "predict", 404, "not_found"
    ),
    "case id traversal": Probe("GET", "/v1/cases/..%2F..%2Fetc%2Fpasswd", "analyst", 404, None),
    "case id SQL (resolve)": Probe(
        "POST", "/v1/cases/x'%20OR%201=1--/resolve", "analyst", 404, "not_found"
    ),
    "case id 10 KB": Probe("GET", "/v1/cases/" + "c" * 10_000, "analyst", 404, "not_found"),
    "unknown route": Probe("GET", "/v1/../../etc/passwd", None, 404, "not_found"),
    "method not allowed": Probe("DELETE", "/v1/predictions", "admin", 405, "method_not_allowed"),
    "method not allowed on categorize": Probe(
        "PUT", "/v1/cases/categorize", "admin", 405, "method_not_allowed"
    ),
}

QUERY_ATTACKS: dict[str, Probe] = {
    "limit negative": Probe("GET", "/v1/predictions?limit=-1", "analyst", 422, "invalid_value"),
    "limit huge": Probe(
        "GET", "/v1/predictions?limit=" + "9" * 40, "analyst", 422, "invalid_value"
    ),
    "limit text": Probe("GET", "/v1/predictions?limit=ten", "analyst", 400, "wrong_type"),
    "limit float": Probe("GET", "/v1/predictions?limit=1e3", "analyst", 400, "wrong_type"),
    "limit empty": Probe("GET", "/v1/predictions?limit=", "analyst", 400, "wrong_type"),
    "before garbage": Probe(
        "GET", "/v1/predictions?before=%3Cscript%3E", "analyst", 400, "wrong_type"
    ),
    "before SQL": Probe(
        "GET", "/v1/predictions?before=1%27%20OR%20%271%27=%271", "analyst", 400, "wrong_type"
    ),
    "days zero": Probe("GET", "/v1/monitoring?days=0", "analyst", 422, "invalid_value"),
    "days huge": Probe("GET", "/v1/monitoring?days=99999999", "analyst", 422, "invalid_value"),
    "period SQL": Probe(
        "GET",
        "/v1/monitoring?period=W%27%3B%20DROP%20TABLE%20predictions%3B--",
        "analyst",
        422,
        "invalid_value",
    ),
    "status SQL": Probe(
        "GET", "/v1/suggestions?status=open%27%20OR%201=1--", "predict", 422, "invalid_value"
    ),
    "offset negative": Probe("GET", "/v1/suggestions?offset=-5", "predict", 422, "invalid_value"),
    "order_id SQL": Probe("GET", "/v1/suggestions?order_id=%27%20OR%201=1--", "predict", 200, None),
    "case status SQL": Probe(
        "GET", "/v1/cases?status=open%27%20OR%201=1--", "analyst", 422, "invalid_value"
    ),
    "case order_id NUL": Probe("GET", "/v1/cases?order_id=a%00b", "analyst", 200, None),
    "order_id NUL": Probe("GET", "/v1/suggestions?order_id=a%00b", "predict", 200, None),
    "unknown parameters (taxonomy)": Probe(
        "GET", "/v1/taxonomy?admin=1&role=admin", "predict", 200, None
    ),
    "unknown parameters (models)": Probe("GET", "/v1/models?path=../../etc", "predict", 200, None),
    "unknown parameters (healthz)": Probe("GET", "/healthz?x=%00", None, 200, None),
    "unknown parameters (readyz)": Probe("GET", "/readyz?x=1", None, 200, None),
    "unknown parameters (openapi)": Probe("GET", "/openapi.json?x=1", None, 200, None),
    "unknown parameters (docs)": Probe("GET", "/docs?q=%3Cscript%3E", None, 200, None),
}

#: text that is odd but legitimate: answered and stored exactly as sent (after redaction)
ACCEPTED_AS_DATA = {
    "emoji": "包裹还没到 😡😡😡 where is it 📦",
    "right-to-left": "\u202eطلبي لم يصل بعد\u202c עברית order late",
    "HTML and script": "<script>alert(document.cookie)</script><img src=x onerror=alert(1)>",
    "SQL fragments": "'; DROP TABLE predictions; -- \" OR 1=1; DELETE FROM feedback",
    "path traversal": "../../../../etc/passwd ..\\..\\windows\\system32",
    "zero-width and combining": "re\u200bfund\u200d never n\u0301\u0301\u0301 arrived",
    "format strings": "%s %n %x {0} ${jndi:ldap://x} {{7*7}}",
    "control characters": "line\u0001one\u0007\u001b[31m red \u0008",
}


# --- fixtures --------------------------------------------------------------------------------
def _seed(app) -> str:
    """A logged prediction, a stored order with an open suggestion: something to act on."""
    from triage.orders.data.schema import orders_from_records
    from triage.orders.service import OrderService
    from triage.orders.suggestions.policy import Suggestion

    store = app.extensions["triage"].store
    pid = log_prediction(store)
    service = OrderService(store)
    service.orders.save(orders_from_records([_order("HOSTILE-1")]), None, utcnow())
    facts = {
        "order_id": "HOSTILE-1",
        "purchased_at": "2024-11-08T10:00:00+00:00",
        "promised_date": "2024-11-13",
        "carrier": "Panda Post",
        "last_event": "none",
    }
    service.suggestions.add(
        Suggestion(
            SUGGESTION_ID,
            "HOSTILE-1",
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
    return pid


@dataclass
class Service:
    app: Any
    models: Any
    prediction_id: str
    keys: dict[str, str]


@pytest.fixture(scope="module")
def service(tmp_path_factory, served_models_dir, api_router, api_risk_scorer) -> Service:
    """One app for the whole module (a rejected request changes nothing, which every test
    checks), on its own database and registry copy, seeded, with a key per role."""
    import shutil

    from api import create_app
    from api.testing import ConformingClient

    root = tmp_path_factory.mktemp("hostile")
    models = root / "models"
    shutil.copytree(served_models_dir, models, ignore=shutil.ignore_patterns(".lock"))
    app = create_app(
        {"models_dir": models, "data_dir": root / "var", "TESTING": True, "load_models": False}
    )
    app.test_client_class = ConformingClient
    app.extensions["triage"].models.add_loader("cases", lambda registry, taxonomy: api_router)
    app.extensions["triage"].models.add_loader(
        "risk", lambda registry, taxonomy: api_risk_scorer, required=False
    )
    app.extensions["triage"].models.load()
    store = app.extensions["triage"].store
    keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
    return Service(app, models, _seed(app), keys)


@pytest.fixture
def client(service):
    return service.app.test_client()


@pytest.fixture
def keys(service):
    return service.keys


@pytest.fixture
def seeded(service):
    return service.prediction_id


@pytest.fixture
def fresh(make_app, served_models):
    """A fresh app for the tests that do store something, with its keys and seeded rows."""
    app = make_app(models_dir=served_models)
    store = app.extensions["triage"].store
    keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
    return Service(app, served_models, _seed(app), keys)


def database_state(app) -> dict[str, list]:
    """Every row of every guarded table, sorted: the whole stored state but rate counters."""
    store = app.extensions["triage"].store
    with store.engine.connect() as conn:
        return {
            table.name: sorted(map(repr, conn.execute(sa.select(table)).all())) for table in GUARDED
        }


def registry_state(root) -> dict[str, str]:
    """SHA-256 of every file of the registry (lock files apart)."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


@pytest.fixture
def unchanged(service):
    """A check that the database and the registry hold what they held when it was made."""
    app, models = service.app, service.models
    before = (database_state(app), registry_state(models))

    def check() -> None:
        after = (database_state(app), registry_state(models))
        assert after[1] == before[1], "the registry changed"
        for table, rows in before[0].items():
            assert after[0][table] == rows, f"table {table} changed"

    return check


def _send(client, method, path, token, attack: Attack | None = None, body: Any = None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    kwargs: dict[str, Any] = {}
    if attack is not None:
        data = attack.data if attack.data is not None else json.dumps(attack.json).encode()
        headers["Content-Type"] = "application/json"
        headers.update(attack.headers)
        if headers["Content-Type"] == "":
            del headers["Content-Type"]
        if attack.chunked:
            headers["Transfer-Encoding"] = "chunked"
            kwargs["input_stream"] = io.BytesIO(data)
            kwargs["environ_overrides"] = {"wsgi.input_terminated": True}
        else:
            kwargs["data"] = data
    elif body is not None:
        kwargs["json"] = body
    return client.open(path, method=method, headers=headers, **kwargs)


def _assert_error(response, status: int, codes: tuple[str | None, ...]) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)[:500]
    if status < 400:
        return {}
    error = response.get_json()["error"]
    if codes and codes != (None,):
        assert error["code"] in codes, error
    assert error["message"] and "Traceback" not in error["message"]
    assert len(response.data) < 2000, "the error echoes the input"
    return error


# --- the catalogue ---------------------------------------------------------------------------
def test_the_catalogue_covers_every_operation(service):
    """Every operation of the document is attacked by at least one row of the catalogue."""
    document = service.app.extensions["triage.openapi"].document
    covered = {(op.path, "post") for op in OPERATIONS}
    for probe in (*PATH_ATTACKS.values(), *QUERY_ATTACKS.values()):
        covered.add((probe.path.split("?")[0], probe.method.lower()))
    templates = {(path, method) for path, item in document["paths"].items() for method in item}

    def matches(template: str, path: str) -> bool:
        parts, actual = template.split("/"), path.split("/")
        return len(parts) == len(actual) and all(
            p == a or (p.startswith("{") and a) for p, a in zip(parts, actual, strict=True)
        )

    missing = {
        (t, m) for t, m in templates if not any(m == cm and matches(t, cp) for cp, cm in covered)
    }
    assert missing == set()


@pytest.mark.parametrize(
    ("operation", "attack"),
    [
        pytest.param(operation, attack, id=f"{operation.name}-{attack}")
        for attack in BODY_ATTACKS
        for operation in OPERATIONS
        # accept takes an optional body: no body files the draft (tested below)
        if not (operation.name == "accept" and attack == "empty body")
    ],
)
def test_body_attacks_are_refused_and_store_nothing(client, keys, unchanged, operation, attack):
    hostile = BODY_ATTACKS[attack]
    response = _send(client, "POST", operation.path, keys[operation.role], hostile)
    _assert_error(response, hostile.status, hostile.codes)
    unchanged()


@pytest.mark.parametrize("attack", FIELD_ATTACKS, ids=str)
@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_field_attacks_get_a_clear_answer(client, keys, seeded, unchanged, operation, attack):
    value, expected = FIELD_ATTACKS[attack]
    status, code = _expected(operation, expected)
    body = _put(operation.body(seeded), operation.field, value)
    response = _send(client, "POST", operation.path, keys[operation.role], body=body)
    error = _assert_error(response, status, (code,))
    if status >= 400:
        where = "".join(
            f"[{p}]" if isinstance(p, int) else (f".{p}" if i else p)
            for i, p in enumerate(operation.field)
        )
        assert error["details"].get("field") == where, error
        unchanged()


@pytest.mark.parametrize("operation", [o for o in OPERATIONS if o.batch], ids=lambda o: o.name)
def test_huge_batches_are_refused_whole(client, keys, unchanged, operation):
    name, item = operation.batch
    limit = 1000 * (20 if name == "events" else 1)
    response = _send(
        client, "POST", operation.path, keys[operation.role], body={name: [item] * (limit + 1)}
    )
    _assert_error(response, 413, ("too_many_items", "body_too_large"))
    unchanged()


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda o: o.name)
def test_unknown_fields_are_refused(client, keys, seeded, unchanged, operation):
    body = {**operation.body(seeded), "__proto__": {"admin": True}}
    response = _send(client, "POST", operation.path, keys[operation.role], body=body)
    error = _assert_error(response, 400, ("unknown_field",))
    assert error["details"]["field"] == "__proto__"
    unchanged()


@pytest.mark.parametrize("probe", {**PATH_ATTACKS, **QUERY_ATTACKS}, ids=str)
def test_path_and_query_attacks(client, keys, unchanged, probe):
    attack = {**PATH_ATTACKS, **QUERY_ATTACKS}[probe]
    token = keys[attack.role] if attack.role else None
    response = _send(client, attack.method, attack.path, token, body=attack.body)
    _assert_error(response, attack.status, (attack.code,))
    unchanged()


@pytest.mark.parametrize("name", ACCEPTED_AS_DATA, ids=str)
def test_unusual_text_is_answered_and_stored_verbatim(fresh, name):
    """Nothing in a text is interpreted: it is categorized, and logged exactly as sent."""
    app, client, keys, seeded = fresh.app, fresh.app.test_client(), fresh.keys, fresh.prediction_id
    text = ACCEPTED_AS_DATA[name]
    before = database_state(app)
    response = _send(client, "POST", "/v1/cases/categorize", keys["predict"], body={"text": text})
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert answer["logged"] is True
    logged = app.extensions["triage"].store.get_prediction(answer["prediction_id"])
    assert logged["text"] == text
    after = database_state(app)
    assert len(after["predictions"]) == len(before["predictions"]) + 1
    assert {t: r for t, r in after.items() if t != "predictions"} == {
        t: r for t, r in before.items() if t != "predictions"
    }
    # the same text as an analyst's note and as a filer's edit is stored as sent, too
    note = _send(
        client,
        "POST",
        "/v1/feedback",
        keys["analyst"],
        body={"prediction_id": seeded, "category": "other", "note": text},
    )
    assert note.status_code == 201 and note.get_json()["note"] == text
    accepted = _send(
        client,
        "POST",
        f"/v1/suggestions/{SUGGESTION_ID}/accept",
        keys["predict"],
        body={"text": text},
    )
    assert accepted.status_code == 201 and accepted.get_json()["case"]["text"] == text


def test_a_batch_with_one_bad_case_stores_nothing(client, keys, unchanged):
    cases = [{"text": t} for t in ACCEPTED_AS_DATA.values()] + [{"text": "a\u0000"}]
    response = _send(client, "POST", "/v1/cases/categorize", keys["predict"], body={"cases": cases})
    error = _assert_error(response, 422, ("invalid_value",))
    assert error["details"]["field"] == f"cases[{len(cases) - 1}].text"
    unchanged()


def test_an_orders_batch_with_one_bad_event_stores_nothing(client, keys, unchanged):
    events = [_event(), {**_event(), "order_id": "NOT-STORED"}]
    response = _send(client, "POST", "/v1/orders/events", keys["analyst"], body={"events": events})
    assert response.status_code == 422, response.get_json()
    unchanged()


def test_accept_without_a_body_files_the_draft(fresh):
    """The one operation where an empty body is valid: it files the Chinese draft."""
    keys = fresh.keys
    response = _send(
        fresh.app.test_client(), "POST", f"/v1/suggestions/{SUGGESTION_ID}/accept", keys["predict"]
    )
    assert response.status_code == 201
    assert response.get_json()["case"]["text"] == "草稿"


@pytest.mark.parametrize(
    "headers",
    (
        {"Authorization": "Bearer " + "a" * 100_000},
        {"Authorization": "Bearer ctk_" + "é" * 60},
        {"Authorization": "Bearer ctk_000000000000_" + "A" * 42 + "\u0000"},
        {"Authorization": "Bearer ' OR 1=1 --"},
        {"X-API-Key": "../../etc/passwd"},
        {"Authorization": "Digest username=admin"},
    ),
    ids=("100 KB token", "non-ASCII token", "NUL in token", "SQL token", "path token", "digest"),
)
def test_hostile_credentials_are_401_and_store_nothing(client, unchanged, headers):
    response = client.post("/v1/cases/categorize", json={"text": "hi"}, headers=headers)
    _assert_error(response, 401, ("invalid_api_key",))
    unchanged()


def test_the_state_check_sees_a_stored_row_and_a_registry_change(service, unchanged):
    """The guard of this module can fail: one stored row, or one changed file, trips it."""
    store = service.app.extensions["triage"].store
    extra = PredictionRecord(
        id=str(uuid.uuid4()),
        created_at=utcnow(),
        text="x",
        language="en",
        category="other",
        confidence=0.5,
        needs_review=False,
        model_name="cases",
        model_version="v1",
    )
    store.log_predictions([extra])
    with pytest.raises(AssertionError, match="table predictions changed"):
        unchanged()
    with store.engine.begin() as conn:  # leave the shared service as it was
        conn.execute(sa.text("DELETE FROM predictions WHERE id = :id"), {"id": extra.id})
    unchanged()
    state = service.models / "cases" / "registry.json"
    original = state.read_bytes()
    state.write_bytes(original + b" ")
    try:
        with pytest.raises(AssertionError, match="registry changed"):
            unchanged()
    finally:
        state.write_bytes(original)
    unchanged()


OUT_OF_RANGE_TIMES = ("0001-01-01", "1500-06-01", "2300-01-01T00:00:00Z", "9999-12-31")


@pytest.mark.parametrize("when", OUT_OF_RANGE_TIMES)
@pytest.mark.parametrize(
    ("path", "role", "body"),
    (
        ("/v1/orders/risk", "predict", lambda t: {"order": {**_order(), "purchased_at": t}}),
        ("/v1/orders", "analyst", lambda t: {"orders": [{**_order("H-3"), "promised_date": t}]}),
        ("/v1/orders/events", "analyst", lambda t: {"events": [{**_event(), "time": t}]}),
    ),
    ids=("risk", "orders", "events"),
)
def test_dates_out_of_the_supported_range_are_422(client, keys, unchanged, path, role, body, when):
    response = client.post(path, json=body(when), headers={"Authorization": f"Bearer {keys[role]}"})
    assert response.status_code == 422
    unchanged()
