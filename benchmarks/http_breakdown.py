"""Where a categorize request's time goes, in one process (no HTTP server, no load generator).

    .venv/bin/python benchmarks/http_breakdown.py [--n 300]

Builds the app on a fresh database with the registry's champion case model (run
`make bootstrap` first) and times, per call, in CPU milliseconds (`time.process_time`, so that
other load on the machine disturbs it less than wall time): the model alone
(`CaseRouter.predict` of one text), the database work of the request (key lookup with the rate
count, then the prediction log insert), request validation, redaction, and whole requests through
Flask's test client for categorize (one case, and a batch of 100 per case) and for the bare
/healthz. Texts are the seed corpus's test
split, as in benchmarks/http_service.py.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))


def cpu_ms(call: Callable[[int], object], n: int) -> float:
    """Mean CPU ms per call over `n` calls, after 20 warm-up calls."""
    for i in range(20):
        call(i)
    start = time.process_time()
    for i in range(n):
        call(i)
    return (time.process_time() - start) / n * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300)
    args = parser.parse_args(argv)

    from http_service import machine, texts

    from api import create_app
    from triage.store import PredictionRecord, utcnow
    from triage.text.entities import redact

    folder = Path(tempfile.mkdtemp(prefix="triage-breakdown-"))
    app = create_app({"data_dir": folder, "rate_limit_per_minute": 10**9})
    state = app.extensions["triage"]
    record, token = state.store.create_key("predict", "breakdown")
    router = state.models.case_router()
    validator = app.extensions["triage.openapi"].validator("CaseInput")
    corpus = texts()
    client = app.test_client()
    headers = {"Authorization": f"Bearer {token}"}

    def log(i: int) -> None:
        state.store.log_predictions(
            [
                PredictionRecord(
                    id=str(uuid.uuid4()),
                    created_at=utcnow(),
                    text=corpus[i % len(corpus)],
                    language="en",
                    category="other",
                    confidence=0.5,
                    needs_review=False,
                    model_name="cases",
                    model_version=router.version,
                )
            ]
        )

    parts = {
        "model: CaseRouter.predict, one text": lambda i: router.predict([corpus[i % len(corpus)]]),
        "database: key lookup + rate count": lambda i: state.store.authenticate_and_count(
            record.id, token, 60
        ),
        "database: prediction log insert": log,
        "request validation (JSON Schema)": lambda i: list(
            validator.iter_errors({"text": corpus[i % len(corpus)]})
        ),
        "redaction of the logged text": lambda i: redact(corpus[i % len(corpus)]),
        "whole request: POST /v1/cases/categorize": lambda i: client.post(
            "/v1/cases/categorize", json={"text": corpus[i % len(corpus)]}, headers=headers
        ),
        "whole request: GET /healthz": lambda i: client.get("/healthz"),
    }
    batch = {"cases": [{"text": t} for t in (corpus * 2)[:100]]}
    print(f"machine: {machine()}; model {router.name}@{router.version}; n={args.n}")
    print("| part | CPU ms per call |")
    print("|---|---:|")
    for label, call in parts.items():
        print(f"| {label} | {cpu_ms(call, args.n):.2f} |", flush=True)
    per_batch = cpu_ms(
        lambda i: client.post("/v1/cases/categorize", json=batch, headers=headers),
        max(3, args.n // 100),
    )
    print(f"| whole request: a batch of 100 cases, per case | {per_batch / 100:.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
