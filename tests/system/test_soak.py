"""Soak: categorize and orders/risk together against a real `triage serve` for at least 60 s
and `TRIAGE_SOAK_REQUESTS` requests (default 20,000), four connections from wrk.

No request may fail, and the server's memory (gunicorn master and workers, RSS) may not grow by
more than `GROWTH_BOUND_MB` between the end of the first 10-second round (warm) and the end.
A leak of 1 KB per request would add about 19.5 MB over 20,000 requests and fail it. (The
resident memory of the warm server stays flat to 0.1 MB from round to round, apart from a rare
step when an allocator returns an arena: -17 MB once in 56 rounds, so the bound has room.)
Longer runs: TRIAGE_SOAK_REQUESTS=100000. The figures of the default models are measured by
benchmarks/soak.py and written in docs/RELIABILITY.md.
"""

from __future__ import annotations

import json
import os

import pytest

from benchmarks.soak import risk_bodies, soak, store_demo_orders, write_bodies, wrk_available
from triage.store import Store

pytestmark = pytest.mark.timeout(1800)

REQUESTS = int(os.environ.get("TRIAGE_SOAK_REQUESTS", "20000"))
MIN_SECONDS = 60
GROWTH_BOUND_MB = 16


def test_soak_categorize_and_risk(serve, tmp_path, served_models, corpus):
    if not wrk_available():
        pytest.skip("the soak test needs wrk on PATH (Debian: apt install wrk)")
    data_dir = tmp_path / "var"
    store = Store(f"sqlite:///{data_dir / 'triage.db'}")
    orders, events = store_demo_orders(store)
    token = store.create_key("predict", "soak")[1]
    store.dispose()
    test_split = corpus[corpus["split"] == "test"].sample(600, random_state=0)
    counts = write_bodies(
        tmp_path / "bodies.txt", test_split["text"].tolist(), risk_bodies(orders, events), 20
    )
    assert counts["risk"] >= 25
    served = serve(served_models, data_dir, workers=2, TRIAGE_RATE_LIMIT_PER_MINUTE=str(10**9))
    port = int(served.base.rsplit(":", 1)[1])
    result = soak(
        port,
        served.process.pid,
        tmp_path / "bodies.txt",
        token,
        requests=REQUESTS,
        min_seconds=MIN_SECONDS,
        folder=tmp_path,
    )
    summary = {k: v for k, v in result.items() if k != "rounds"}
    (tmp_path / "soak.json").write_text(json.dumps(result, indent=2))
    assert result["errors"] == 0, summary
    assert result["requests"] >= REQUESTS and result["seconds"] >= MIN_SECONDS, summary
    assert result["rss_growth_mb"] <= GROWTH_BOUND_MB, summary
    served.stop()
    # both kinds of request were answered, and answered 200 (the access log)
    log = served.log.read_text(errors="replace")
    assert log.count('"POST /v1/orders/risk HTTP/1.1" 200') >= REQUESTS // 40, summary
    assert log.count('"POST /v1/cases/categorize HTTP/1.1" 200') >= REQUESTS // 2, summary
