"""schemathesis from outside, as a client would run it: the `schemathesis` command against a
real `triage serve` and its /openapi.json, every phase (examples, coverage, fuzzing, stateful,
the last following the document's links: categorize -> feedback, orders -> suggestions ->
accept/dismiss) and every check (`--checks all`), at least `MIN_CASES` generated test cases:
0 failures. The key is an admin's (it may call every operation); negative data must be
refused with a 4xx, 413 included (tests/test_schemathesis.py runs the in-process variant with a
key of each operation's own role and existing ids)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import log_prediction
from tests.test_schemathesis import REJECTED
from triage.store import Store

pytestmark = pytest.mark.timeout(1800)

MIN_CASES = 2000
EXAMPLES = int(os.environ.get("TRIAGE_SCHEMATHESIS_EXAMPLES", "50"))
#: negative data is refused with any 4xx of the document, 413 included. The order operations
#: answer 422 to orders and events that fit the schemas one by one but not together (an event of
#: an order neither stored nor sent along, a delivery before the purchase, an order twice in a
#: batch): relations between records and with the database, which the document states in words
#: (the 422 description) and no JSON Schema can; only there is 422 an answer to valid data.
CONFIG = """
[checks.negative_data_rejection]
expected-statuses = [{rejected}]

[[operations]]
include-operation-id = ["scoreOrders", "ingestOrders", "ingestOrderEvents"]
checks.positive_data_acceptance.expected-statuses = ["2xx", "401", "403", "404", "409", "422"]
"""


def test_schemathesis_command_against_a_running_server(serve, tmp_path, served_models):
    data_dir = tmp_path / "var"
    store = Store(f"sqlite:///{data_dir / 'triage.db'}")
    store.migrate()
    admin = store.create_key("admin", "schemathesis")[1]
    for _ in range(5):
        log_prediction(store, "v2")
    store.dispose()
    served = serve(
        served_models, data_dir, access_log=False, TRIAGE_RATE_LIMIT_PER_MINUTE=str(10**9)
    )
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG.format(rejected=", ".join(f'"{s}"' for s in REJECTED)))
    report = tmp_path / "report.json"
    program = Path(sys.executable).with_name("schemathesis")
    run = subprocess.run(
        [
            str(program),
            "--config-file",
            str(config),
            "run",
            f"{served.base}/openapi.json",
            "--phases",
            "examples,coverage,fuzzing,stateful",
            "--checks",
            "all",
            "--max-examples",
            str(EXAMPLES),
            "--seed",
            "0",
            "--header",
            f"Authorization: Bearer {admin}",
            "--report",
            "json",
            "--report-json-path",
            str(report),
            "--no-color",
            "--request-timeout",
            "30",
        ],
        capture_output=True,
        text=True,
        timeout=1700,
    )
    output = run.stdout + run.stderr
    (tmp_path / "schemathesis.txt").write_text(output)
    assert run.returncode == 0, output[:6000] + "\n...\n" + output[-6000:]
    result = json.loads(report.read_text())
    assert {phase: v["status"] for phase, v in result["phases"].items()} == {
        phase: "success" for phase in ("examples", "coverage", "fuzzing", "stateful")
    }, output[-3000:]
    cases = result["test_cases"]
    assert cases["with_failures"] == 0 and cases["errored"] == 0, cases
    assert cases["generated"] >= MIN_CASES, cases
    served.stop()
