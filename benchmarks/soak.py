"""Soak: categorize and delayed-order risk together under a bounded load, memory watched.

    .venv/bin/python benchmarks/soak.py [--requests 100000] [--min-seconds 60]
        [--connections 4] [--risk-every 20] [--workers 2] [--json FILE] [--plot FILE]

Starts ``triage serve`` (gunicorn, access log on, as `make run` does) on the registry's champion
models (run `make bootstrap` first) with a fresh database holding the demo day of open orders,
and loads it with wrk (Debian's ``wrk``) from a second process on loopback: a fixed number of
connections (the bound on the load), each sending one request after the other. The requests
cycle through real texts of the seed corpus's test split for ``POST /v1/cases/categorize`` and,
every `--risk-every`-th request, one stored open order with its tracking events for
``POST /v1/orders/risk``.

The load runs in rounds of `--round-seconds` until at least `--requests` requests were answered
and `--min-seconds` have passed. After each round the resident memory (RSS) of the gunicorn
master and its workers is read (psutil), so that memory is known as a function of the requests
served. Reported: requests, seconds, errors (non-2xx answers and socket errors), p50 and p99
latency per round and the worst round's p99, and RSS after the first round (warm) and at the
end; the growth between the two is what tests/test_soak.py bounds.

`soak()` is the reusable part: tests/test_soak.py runs it against its own server.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: each line of the bodies file: "<path>\t<JSON body>"
WRK_SCRIPT = r"""
local lines = {}
for line in io.lines(os.getenv("SOAK_BODIES")) do
  local tab = line:find("\t", 1, true)
  lines[#lines + 1] = {line:sub(1, tab - 1), line:sub(tab + 1)}
end
local token = os.getenv("SOAK_TOKEN")
local i = 0
setup = function(thread)
  thread:set("offset", math.random(#lines))
end
request = function()
  i = i + 1
  local entry = lines[(i + (offset or 0)) % #lines + 1]
  return wrk.format("POST", entry[1], {["Content-Type"] = "application/json",
                                       ["Authorization"] = "Bearer " .. token}, entry[2])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("SOAK_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "max_ms": %f, '
    .. '"socket_errors": %d, "non_2xx": %d}',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write + e.timeout, e.status))
  out:close()
end
"""


def wrk_available() -> bool:
    return shutil.which("wrk") is not None


def server_rss(master_pid: int) -> int:
    """Resident bytes of the gunicorn master and all its children."""
    import psutil

    master = psutil.Process(master_pid)
    total = 0
    for process in [master, *master.children(recursive=True)]:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:
            pass
    return total


def risk_body(order: dict, own_events) -> dict:
    """A ``POST /v1/orders/risk`` body, JSON-ready: `order` (a row of the canonical orders
    table as a dict; missing values left out) and `own_events` (its tracking events, a frame, or
    None)."""
    import pandas as pd

    from triage.orders.data.fields import TIME_COLUMNS

    body: dict = {}
    for key, value in order.items():
        if pd.isna(value):
            continue
        if key in TIME_COLUMNS:
            body[key] = pd.Timestamp(value).isoformat()
        elif key == "n_items":
            body[key] = int(value)
        elif key == "canceled":
            body[key] = bool(value)
        else:
            body[key] = value.item() if hasattr(value, "item") else value
    events = [] if own_events is None else own_events.to_dict("records")
    for event in events:
        event["time"] = pd.Timestamp(event["time"]).isoformat()
    return {"order": body, "events": events}


def risk_bodies(orders, events, limit: int = 300) -> list[dict]:
    """Risk bodies of the first `limit` open orders of the tables, with their events."""
    open_ = orders[orders["delivered_at"].isna() & ~orders["canceled"]].head(limit)
    by_order = {key: group for key, group in events.groupby("order_id")}
    return [risk_body(o, by_order.get(o["order_id"])) for o in open_.to_dict("records")]


def store_demo_orders(store):
    """Store the demo day of orders (`triage bootstrap --demo-orders`'s), moved to end today,
    in `store` (migrated first); returns (orders, events) as stored."""
    import pandas as pd

    from triage.orders.default import demo_open_orders, move_to_day
    from triage.orders.storage import OrderStore

    now = pd.Timestamp.now(tz="UTC")
    orders, events, _ = move_to_day(*demo_open_orders(), now)
    store.migrate()
    OrderStore(store).save(orders, events, now.to_pydatetime())
    return orders, events


def write_bodies(path: Path, texts: list[str], risk: list[dict], risk_every: int) -> dict:
    """The bodies file: categorize bodies with a risk body every `risk_every`-th line."""
    lines, counts, r = [], {"categorize": 0, "risk": 0}, 0
    for i, text in enumerate(texts):
        if risk and risk_every and i % risk_every == risk_every - 1:
            body = json.dumps(risk[r % len(risk)], ensure_ascii=False)
            lines.append(f"/v1/orders/risk\t{body}")
            counts["risk"] += 1
            r += 1
        body = json.dumps({"text": text}, ensure_ascii=False)
        lines.append(f"/v1/cases/categorize\t{body}")
        counts["categorize"] += 1
    assert all("\n" not in line for line in lines)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def soak(
    port: int,
    master_pid: int,
    bodies: Path,
    token: str,
    *,
    requests: int = 100_000,
    min_seconds: float = 60.0,
    connections: int = 4,
    round_seconds: int = 10,
    folder: Path,
    progress: Callable[[dict], None] | None = None,
) -> dict:
    """Load the server in rounds until `requests` answers and `min_seconds`; see the module
    docstring. Returns the figures (JSON-ready)."""
    script = folder / "soak.lua"
    script.write_text(WRK_SCRIPT)
    out = folder / "round.json"
    env = {**os.environ, "SOAK_BODIES": str(bodies), "SOAK_TOKEN": token, "SOAK_OUT": str(out)}
    rounds: list[dict] = []
    started = time.monotonic()
    rss_start = server_rss(master_pid)
    while True:
        out.unlink(missing_ok=True)
        subprocess.run(
            ["wrk", "-t", str(min(connections, 2)), "-c", str(connections)]
            + ["-d", f"{round_seconds}s", "--timeout", "10s", "-s", str(script)]
            + [f"http://127.0.0.1:{port}/"],
            env=env,
            check=True,
            capture_output=True,
        )
        figures = json.loads(out.read_text())
        figures["rss_mb"] = round(server_rss(master_pid) / 2**20, 1)
        figures["served"] = sum(r["requests"] for r in rounds) + figures["requests"]
        rounds.append(figures)
        if progress:
            progress(figures)
        if figures["served"] >= requests and time.monotonic() - started >= min_seconds:
            break
    seconds = sum(r["seconds"] for r in rounds)
    served = rounds[-1]["served"]
    return {
        "requests": served,
        "seconds": round(seconds, 1),
        "requests_per_second": round(served / seconds, 1),
        "connections": connections,
        "errors": sum(r["socket_errors"] + r["non_2xx"] for r in rounds),
        "p50_ms_median_round": sorted(r["p50_ms"] for r in rounds)[len(rounds) // 2],
        "p99_ms_worst_round": max(r["p99_ms"] for r in rounds),
        "max_ms": max(r["max_ms"] for r in rounds),
        "rss_mb_before": round(rss_start / 2**20, 1),
        "rss_mb_warm": rounds[0]["rss_mb"],
        "rss_mb_end": rounds[-1]["rss_mb"],
        "rss_growth_mb": round(rounds[-1]["rss_mb"] - rounds[0]["rss_mb"], 1),
        "rounds": rounds,
    }


def plot(result: dict, path: Path) -> None:
    """Memory and p99 latency against requests served, one point per round."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    served = [r["served"] for r in result["rounds"]]
    fig, (memory, latency) = plt.subplots(2, 1, figsize=(7, 5), sharex=True)
    memory.plot(served, [r["rss_mb"] for r in result["rounds"]], marker="o")
    memory.set_ylabel("server RSS (MB)")
    memory.set_title("Soak: categorize + orders/risk")
    latency.plot(served, [r["p99_ms"] for r in result["rounds"]], marker="o", label="p99")
    latency.plot(served, [r["p50_ms"] for r in result["rounds"]], marker="o", label="p50")
    latency.set_ylabel("latency (ms)")
    latency.set_xlabel("requests served")
    latency.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=100_000)
    parser.add_argument("--min-seconds", type=float, default=60.0)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--risk-every", type=int, default=20)
    parser.add_argument("--round-seconds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--plot", type=Path, default=None)
    args = parser.parse_args()
    if not wrk_available():
        print("error: wrk is not installed (Debian: apt install wrk)", file=sys.stderr)
        return 2
    sys.path.insert(0, str(ROOT))
    from benchmarks.http_service import machine, start_server, texts
    from triage.store import Store

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        server, port, token = start_server(folder, args.workers, threads=1)
        try:
            store = Store(f"sqlite:///{folder / 'var' / 'triage.db'}")
            orders, events = store_demo_orders(store)
            store.dispose()
            counts = write_bodies(
                folder / "bodies.txt", texts(600), risk_bodies(orders, events), args.risk_every
            )
            result = soak(
                port,
                server.pid,
                folder / "bodies.txt",
                token,
                requests=args.requests,
                min_seconds=args.min_seconds,
                connections=args.connections,
                round_seconds=args.round_seconds,
                folder=folder,
                progress=lambda r: print(json.dumps(r), flush=True),
            )
        finally:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    result = {"machine": machine(), "workers": args.workers, "mix": counts, **result}
    print(json.dumps({k: v for k, v in result.items() if k != "rounds"}, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    if args.plot:
        plot(result, args.plot)
    return 0 if result["errors"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
