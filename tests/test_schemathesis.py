"""schemathesis against the service's own ``/openapi.json``, in process on the WSGI app.

For every operation of the document, schemathesis generates requests that fit the schemas
(positive) and requests that break them (negative); each is sent with a valid key of the role
the operation needs (``x-required-role``), and every response must:

- not be a server error (5xx; a documented 503 is not expected here either: the database and
  both models are up),
- have a documented status, content type and headers, and a body valid against its schema,
- for negative requests, be a 4xx (schemathesis' ``negative_data_rejection``; 413 counts),
- carry the security headers (api.security).

Half of the positive requests of operations on a resource get an id that exists (a logged
prediction, an open suggestion, a registered version), so that the success paths (201 feedback,
201 accept, 200 promote...) are exercised, not only 404s. At least `MIN_REQUESTS` requests are
sent in all (the count is asserted). ``TRIAGE_SCHEMATHESIS_EXAMPLES`` raises the examples per
operation and mode (default 36); the run is derandomized, so that CI is reproducible.
"""

from __future__ import annotations

import datetime as dt
import os
import shutil
import uuid
from collections import Counter
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from triage.store import PredictionRecord, utcnow

MIN_REQUESTS = 1000
EXAMPLES = int(os.environ.get("TRIAGE_SCHEMATHESIS_EXAMPLES", "36"))
SECURITY_HEADERS = ("X-Content-Type-Options", "X-Frame-Options", "Content-Security-Policy")
# negative data must get one of these: schemathesis' defaults (without 5xx, which
# not_a_server_error fails anyway) plus 413, the documented answer to a batch over its limit
REJECTED = ["400", "401", "403", "404", "405", "406", "409", "413", "415", "422", "428", "429"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def service(tmp_path_factory, served_models_dir, api_router, api_risk_scorer):
    """The app on a private registry copy and database, seeded with predictions, orders and
    open suggestions; keys per role; the rate limit out of reach (still counted)."""
    from api import create_app
    from triage.orders.data.schema import orders_from_records
    from triage.orders.service import OrderService
    from triage.orders.suggestions.policy import Suggestion

    root = tmp_path_factory.mktemp("schemathesis")
    models = root / "models"
    shutil.copytree(served_models_dir, models, ignore=shutil.ignore_patterns(".lock"))
    app = create_app(
        {
            "models_dir": models,
            "data_dir": root / "var",
            "rate_limit_per_minute": 10**9,
            "load_models": False,
        }
    )
    state = app.extensions["triage"]
    state.models.add_loader("cases", lambda registry, taxonomy: api_router)
    state.models.add_loader("risk", lambda registry, taxonomy: api_risk_scorer, required=False)
    state.models.load()
    store = state.store
    keys = {role: store.create_key(role)[1] for role in ("predict", "analyst", "admin")}
    predictions = [str(uuid.uuid4()) for _ in range(20)]
    store.log_predictions(
        [
            PredictionRecord(
                id=pid,
                created_at=utcnow(),
                text="包裹没收到 parcel missing",
                language="mixed",
                category="not_received",
                confidence=0.7,
                needs_review=False,
                model_name="cases",
                model_version="v2",
            )
            for pid in predictions
        ]
    )
    now = dt.datetime.now(dt.UTC)
    service = OrderService(store)
    orders = [
        {
            "order_id": f"ST-{i}",
            "purchased_at": (now - dt.timedelta(days=4)).isoformat(),
            "promised_date": (now - dt.timedelta(days=1)).date().isoformat(),
        }
        for i in range(40)
    ]
    service.orders.save(orders_from_records(orders), None, utcnow())
    suggestions = [f"sug_schemathesis{i:03d}" for i in range(40)]
    for i, sid in enumerate(suggestions):
        facts = {
            "order_id": f"ST-{i}",
            "purchased_at": orders[i]["purchased_at"],
            "promised_date": orders[i]["promised_date"],
            "carrier": "Panda Post",
            "last_event": "none",
        }
        service.suggestions.add(
            Suggestion(
                sid,
                f"ST-{i}",
                0.9,
                "shipping_delay",
                [],
                "包裹逾期未到",
                "the parcel is late",
                utcnow(),
                facts=facts,
                model={"name": "risk", "version": "v1", "threshold": 0.5},
            )
        )
    known = {
        "prediction_id": predictions,
        "suggestion_id": suggestions,
        "name": ["cases"],
        "version": ["v1", "v2"],
    }
    return app, keys, known


def _use_known(case: Any, known: dict[str, list[str]], pick: int) -> None:
    """Put an existing id where the operation takes one (path or body)."""
    for name, values in known.items():
        value = values[pick % len(values)]
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value
        if isinstance(case.body, dict) and name in case.body and name != "name":
            case.body[name] = value


def _security_headers(ctx, response, case) -> bool | None:
    missing = [h for h in SECURITY_HEADERS if not response.headers.get(h.lower())]
    if missing:
        raise AssertionError(f"{case.operation.label}: missing security headers {missing}")
    return None


def _exercise(operation, mode, headers, known, statuses: Counter) -> None:
    """Send `EXAMPLES` generated requests of `mode` to `operation` and check each answer."""
    checks = CHECKS + ([negative_data_rejection] if mode.is_negative else [])

    @given(
        case=operation.as_strategy(generation_mode=mode),
        pick=st.integers(0, 10_000),
        substitute=st.booleans(),
    )
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        phases=[Phase.explicit, Phase.generate, Phase.shrink],
        suppress_health_check=list(HealthCheck),
    )
    def run(case, pick, substitute):
        if mode.is_positive and substitute:
            _use_known(case, known, pick)
        response = case.call(headers=headers)
        statuses[(operation.label, response.status_code)] += 1
        case.validate_response(
            response, checks=checks, additional_checks=[_security_headers], headers=headers
        )

    run()


def test_generated_requests_meet_the_document(service):
    app, keys, known = service
    config = SchemathesisConfig.from_dict(
        {"checks": {"negative_data_rejection": {"expected-statuses": REJECTED}}}
    )
    schema = schemathesis.openapi.from_wsgi("/openapi.json", app, config=config)
    statuses: Counter[tuple[str, int]] = Counter()
    failures: list[str] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    document = app.extensions["triage.openapi"].document
    # every operation but the document itself, which schemathesis fetched to start with
    assert {op.label for op in operations} == {
        f"{method.upper()} {path}"
        for path, item in document["paths"].items()
        for method in item
        if path != "/openapi.json"
    }
    for operation in operations:
        role = operation.definition.raw.get("x-required-role")
        headers = {"Authorization": f"Bearer {keys[role]}"} if role else {}
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            try:
                _exercise(operation, mode, headers, known, statuses)
            except Exception as exc:  # noqa: BLE001 - collected, reported together below
                if "Unable to satisfy assumptions" in str(exc):
                    continue  # nothing can be made invalid (e.g. GET /healthz has no input)
                failures.append(f"{operation.label} ({mode.value}): {exc}"[:3000])
    sent: Counter[str] = Counter()
    for (label, _), n in statuses.items():
        sent[label] += n
    summary = "\n".join(
        f"{label}: {n} "
        + str({code: k for (lab, code), k in sorted(statuses.items()) if lab == label})
        for label, n in sorted(sent.items())
    )
    assert not failures, "\n\n".join(failures)
    assert sum(sent.values()) >= MIN_REQUESTS, summary
    # the success paths were reached, not only refusals
    for label, status in (
        ("POST /v1/cases/categorize", 200),
        ("POST /v1/feedback", 201),
        ("GET /v1/predictions/{prediction_id}", 200),
        ("POST /v1/suggestions/{suggestion_id}/accept", 201),
        ("POST /v1/models/{name}/promote", 200),
        ("POST /v1/orders/risk", 200),
        ("POST /v1/orders", 200),
    ):
        assert statuses[(label, status)] > 0, (label, status, summary)
    print(f"\nschemathesis: {sum(sent.values())} requests\n{summary}")
