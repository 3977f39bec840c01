"""Delayed-order risk over HTTP: latency of one risk score and one event ingest by stored orders.

    .venv/bin/python benchmarks/http_orders.py [--orders 3000 100000] [--requests 200]
        [--rebuild-requests 20] [--workers 2] [--baseline-src DIR] [--json FILE]

For each store size, simulated orders with their tracking events (3,000: the demo day that
`make run` loads; more: a seeded marketplace over up to 110 days) are moved in time so that the
simulation ends today, and stored in a fresh database. Then ``triage serve`` (gunicorn, as
`make run` does, the champion risk model of models/, the rate limit out of reach) answers, one
request at a time on loopback:

- ``POST /v1/orders/risk`` with one stored open order and its events (`--requests` of them,
  cycling through different orders);
- ``POST /v1/orders/events`` with one new tracking event of a stored open order (stored,
  re-scored, suggested).

Each server is measured in turn, in the same run: ``cached`` (the default: each worker keeps the
stored orders' history in memory), ``rebuild`` (``TRIAGE_ORDER_HISTORY_CACHE=0``: every request
rebuilds the history from the database, as before the cache) and, with `--baseline-src`, the
code of another source tree (e.g. ``git archive 754c48a triage api | tar -x -C DIR``: the
service before this benchmark's change), each on its own copy of the data. Reported: p50, p90,
p99 and max latency in ms as the client saw it, and the server's CPU time per request
(gunicorn master and workers, from /proc). Every non-200 answer is counted.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
THIS = Path(__file__).resolve()

#: runs ``triage`` (or this file's `load` step) from the source tree in argv[1] when one is
#: given, bypassing the editable install of this checkout
LAUNCH = f"""
import runpy, sys
base = sys.argv.pop(1)
if base:
    sys.meta_path[:] = [f for f in sys.meta_path if "__editable__" not in repr(f)]
    sys.path.insert(0, base)
if sys.argv[1] == "load":
    runpy.run_path({str(THIS)!r}, run_name="__main__")
else:
    from triage.cli import cli
    cli(sys.argv[1:], prog_name="triage")
"""


def _launcher(base: Path | None) -> list[str]:
    return [sys.executable, "-c", LAUNCH, str(base or "")]


# -- data ---------------------------------------------------------------------------------------
def make_tables(n_orders: int, folder: Path) -> dict:
    """Simulated orders and events ending today (UTC), written as Parquet; returns a summary."""
    import pandas as pd

    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.default import demo_open_orders, move_to_day
    from triage.orders.risk.snapshots import censor

    started = time.perf_counter()
    if n_orders == 3_000:
        orders, events, at = demo_open_orders()
    else:
        days = min(110, max(30, n_orders // 900))
        sim = simulate_marketplace(n_orders, seed=1, start="2024-08-01", days=days)
        at = sim.orders["purchased_at"].max().ceil("D")
        orders, events = censor(sim.orders, sim.events, at)
    orders, events, _ = move_to_day(orders, events, at, pd.Timestamp.now(tz="UTC"))
    folder.mkdir(parents=True, exist_ok=True)
    orders.to_parquet(folder / "orders.parquet")
    events.to_parquet(folder / "events.parquet")
    return {
        "orders": len(orders),
        "events": len(events),
        "open": int(orders["delivered_at"].isna().sum()),
        "seconds": round(time.perf_counter() - started, 1),
    }


def load(data_dir: Path, tables: Path) -> None:
    """(Run by the launcher, in the code tree served.) Create the database, store the tables,
    print a predict and an analyst key as JSON."""
    import datetime as dt

    import pandas as pd

    from triage.config import Settings
    from triage.orders.storage import OrderStore
    from triage.store import Store

    settings = Settings.from_env({"data_dir": data_dir})
    store = Store.from_settings(settings)
    store.migrate()
    orders = pd.read_parquet(tables / "orders.parquet")
    events = pd.read_parquet(tables / "events.parquet")
    OrderStore(store).save(orders, events, dt.datetime.now(dt.UTC))
    keys = {role: store.create_key(role, "benchmark")[1] for role in ("predict", "analyst")}
    store.dispose()
    print(json.dumps(keys))


# -- requests -----------------------------------------------------------------------------------
def bodies(tables: Path, n: int) -> tuple[list[dict], list[dict]]:
    """`n` risk bodies (a stored open order with its events) and `n` ingest bodies (one new
    event of a stored open order), cycling through the open orders."""
    import pandas as pd

    from benchmarks.soak import risk_body

    orders = pd.read_parquet(tables / "orders.parquet")
    events = pd.read_parquet(tables / "events.parquet")
    now = pd.Timestamp.now(tz="UTC")
    open_ = orders[orders["delivered_at"].isna() & ~orders["canceled"]]
    open_ = open_[open_["promised_date"] > now - pd.Timedelta(days=20)]
    open_ = open_.sample(min(len(open_), 500), random_state=0).reset_index(drop=True)
    by_order = {k: g for k, g in events.groupby("order_id")}
    risk, ingest = [], []
    for i in range(n):
        row = open_.iloc[i % len(open_)].to_dict()
        risk.append(risk_body(row, by_order.get(row["order_id"])))
        when = now - pd.Timedelta(minutes=5) + pd.Timedelta(milliseconds=i)
        event = {"order_id": row["order_id"], "time": when.isoformat(), "event_type": "in_transit"}
        ingest.append({"events": [{**event, "location": "BENCH"}]})
    return risk, ingest


def _post(port: int, path: str, token: str, body: dict) -> tuple[int, float]:
    payload = json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.perf_counter()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    try:
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        response.read()
        return response.status, time.perf_counter() - started
    finally:
        connection.close()


def _figures(latencies: list[float], cpu: float, failed: int) -> dict:
    import numpy as np

    ms = np.asarray(latencies) * 1000
    return {
        "requests": len(latencies),
        "failed": failed,
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p90_ms": round(float(np.percentile(ms, 90)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
        "cpu_ms_per_request": round(cpu * 1000 / len(latencies), 1),
    }


def run_phase(server, port: int, path: str, token: str, bodies_: list[dict]) -> dict:
    from benchmarks.http_service import server_cpu_seconds

    latencies, failed = [], 0
    cpu = server_cpu_seconds(server.pid)
    for body in bodies_:
        status, seconds = _post(port, path, token, body)
        latencies.append(seconds)
        failed += status != 200
    return _figures(latencies, server_cpu_seconds(server.pid) - cpu, failed)


def serve(folder: Path, base: Path | None, cache: bool, workers: int):
    from benchmarks.http_service import free_port

    env = {
        **os.environ,
        "TRIAGE_DATA_DIR": str(folder / "var"),
        "TRIAGE_MODELS_DIR": str(ROOT / "models"),
        "TRIAGE_TAXONOMY_PATH": str(ROOT / "data" / "taxonomy.yaml"),
        "TRIAGE_CORPUS_DIR": str(ROOT / "data" / "corpus"),
        "TRIAGE_RATE_LIMIT_PER_MINUTE": str(10**9),
        "TRIAGE_MODEL_RELOAD_SECONDS": "0",
        "TRIAGE_CACHE_DIR": str(folder / "cache"),
    }
    if not cache:
        env["TRIAGE_ORDER_HISTORY_CACHE"] = "false"
    port = free_port()
    log = (folder / "server.log").open("wb")
    command = [*_launcher(base), "serve", "--port", str(port), "--workers", str(workers)]
    server = subprocess.Popen(
        command, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True
    )
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited; see {folder / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return server, port, env
        except OSError:
            pass
        time.sleep(0.5)
    os.killpg(server.pid, signal.SIGTERM)
    raise SystemExit("server not ready after 300 s")


def measure(variant: str, base: Path | None, tables: Path, args, folder: Path) -> dict:
    folder.mkdir(parents=True)
    env = {**os.environ, "TRIAGE_DATA_DIR": str(folder / "var")}
    started = time.perf_counter()
    loaded = subprocess.run(
        [*_launcher(base), "load", str(folder / "var"), str(tables)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    keys = json.loads(loaded.stdout.strip().splitlines()[-1])
    load_seconds = time.perf_counter() - started
    server, port, _ = serve(folder, base, variant != "rebuild", args.workers)
    try:
        n = args.requests if variant == "cached" else args.rebuild_requests
        risk, ingest = bodies(tables, n)
        for body in risk[: 2 * args.workers]:  # each worker's first request (and cache build)
            _post(port, "/v1/orders/risk", keys["predict"], body)
        out = {"load_seconds": round(load_seconds, 1)}
        out["risk"] = run_phase(server, port, "/v1/orders/risk", keys["predict"], risk)
        out["ingest"] = run_phase(server, port, "/v1/orders/events", keys["analyst"], ingest)
        return out
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--orders", type=int, nargs="+", default=[3_000, 100_000])
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--rebuild-requests", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--baseline-src", type=Path, default=None)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT))
    from benchmarks.http_service import machine

    report = {"machine": machine(), "workers": args.workers, "sizes": {}}
    variants = [("cached", None), ("rebuild", None)]
    if args.baseline_src:
        variants.append(("baseline", args.baseline_src.resolve()))
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.orders:
            tables = Path(tmp) / f"tables-{n}"
            size = {"data": make_tables(n, tables)}
            print(f"{n} orders: {size['data']}", flush=True)
            for variant, base in variants:
                size[variant] = measure(variant, base, tables, args, Path(tmp) / f"{variant}-{n}")
                print(f"  {variant}: {json.dumps(size[variant])}", flush=True)
            report["sizes"][str(n)] = size
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "load":
        load(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        main()
