"""Hot reload benchmark: categorize latency and failures while the champion changes under load.

    .venv/bin/python benchmarks/http_reload.py [--clients 4] [--workers 2] [--cycles 3]
                                               [--steady 10] [--json FILE]

Trains two versions of the default case model (seeds 0 and 1, as `triage bootstrap` does) into a
temporary registry, starts ``triage serve`` on a free loopback port (gunicorn, sync workers, a
fresh database, the rate limit out of reach) and loads it with `--clients` threads, each sending
one real case of the seed corpus's test split per request on a fresh connection. First a steady
phase of `--steady` seconds, then `--cycles` times: promote the other version over HTTP (admin
key), wait until every worker logged the new model, wait 2 s, roll back likewise. Reports the
latency of requests sent in steady state and of those sent while some worker was loading
(p50, p99, max), every non-200 answer or socket error, and per worker and switch: the load time
it logged and the delay from the promote request to the swap.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.http_service import free_port, machine, texts  # noqa: E402

LOADED = re.compile(
    r"^\[(?P<at>[\d-]+ [\d:,]+)\] \[(?P<pid>\d+)\] \[INFO\] triage\.api: model cases@(?P<version>\S+) "
    r"loaded in (?P<seconds>[\d.]+) s \(was",
    flags=re.M,
)


def _post(port: int, path: str, token: str, body: dict | None) -> tuple[int, dict]:
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else b""
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection.request("POST", path, body=payload, headers=headers)
        response = connection.getresponse()
        return response.status, json.loads(response.read())
    finally:
        connection.close()


def _reloads(log: Path) -> list[dict]:
    out = []
    for m in LOADED.finditer(log.read_text(errors="replace")):
        # logging writes the server's local time: read it back as local time
        at = dt.datetime.strptime(m["at"], "%Y-%m-%d %H:%M:%S,%f")
        out.append(
            {
                "at": at.timestamp(),
                "pid": m["pid"],
                "version": m["version"],
                "load_s": float(m["seconds"]),
            }
        )
    return out


def _figures(latencies: list[float]) -> dict:
    if not latencies:
        return {"n": 0}
    ms = np.asarray(latencies) * 1000
    return {
        "n": len(ms),
        "p50_ms": round(float(np.percentile(ms, 50)), 1),
        "p99_ms": round(float(np.percentile(ms, 99)), 1),
        "max_ms": round(float(ms.max()), 1),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--steady", type=float, default=10.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)

    from triage.cases.default import train_default_case_model
    from triage.config import Settings
    from triage.store import Store

    folder = Path(tempfile.mkdtemp(prefix="bench-reload-"))
    settings = Settings.from_env({"models_dir": folder / "models", "data_dir": folder / "var"})
    print("training two versions of the default case model ...", file=sys.stderr)
    first = train_default_case_model(settings, seed=0)
    second = train_default_case_model(settings, seed=1)  # promoted: the champion
    store = Store.from_settings(settings)
    store.migrate()
    predict = store.create_key("predict", "bench")[1]
    admin = store.create_key("admin", "bench")[1]
    store.dispose()

    port = free_port()
    env = {
        **os.environ,
        "TRIAGE_MODELS_DIR": str(settings.models_dir),
        "TRIAGE_DATA_DIR": str(settings.data_dir),
        "TRIAGE_WORKERS": str(args.workers),
        "TRIAGE_RATE_LIMIT_PER_MINUTE": "0",
    }
    log = folder / "serve.log"
    with log.open("wb") as out:
        server = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("triage")),
                "serve",
                "--port",
                str(port),
                "--no-access-log",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    bodies = texts()
    sent: list[tuple[float, float, int]] = []  # (sent at, seconds, status or -1)
    stop = threading.Event()

    def client(offset: int) -> None:
        i = offset
        while not stop.is_set():
            i += 1
            started = time.time()
            try:
                status, _ = _post(
                    port, "/v1/cases/categorize", predict, {"text": bodies[i % len(bodies)]}
                )
            except (OSError, ValueError):
                status = -1
            sent.append((started, time.time() - started, status))

    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            try:
                import urllib.request

                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                time.sleep(0.5)
        threads = [threading.Thread(target=client, args=(k * 97,)) for k in range(args.clients)]
        for t in threads:
            t.start()
        time.sleep(2)  # warm-up, not counted
        steady = (time.time(), time.time() + args.steady)
        time.sleep(args.steady)
        switches = []
        for _ in range(args.cycles):
            for target, path, body in (
                (first, "/v1/models/cases/promote", {"version": first}),
                (second, "/v1/models/cases/rollback", None),
            ):
                asked = time.time()
                status, answer = _post(port, path, admin, body)
                assert status == 200, answer
                while True:
                    done = [
                        r for r in _reloads(log) if r["version"] == target and r["at"] >= asked - 1
                    ]
                    if len({r["pid"] for r in done}) >= args.workers:
                        break
                    time.sleep(0.1)
                switches.append(
                    {
                        "version": target,
                        "asked": asked,
                        "until": max(r["at"] for r in done),
                        "workers": done,
                    }
                )
                time.sleep(2)
        stop.set()
        for t in threads:
            t.join(120)
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)

    def during(at: float) -> bool:
        return any(s["asked"] <= at <= s["until"] for s in switches)

    result = {
        "machine": machine(),
        "load_average_end": os.getloadavg(),
        "clients": args.clients,
        "workers": args.workers,
        "requests": len(sent),
        "failed": sum(1 for _, _, status in sent if status != 200),
        "steady": _figures([s for at, s, _ in sent if steady[0] <= at < steady[1]]),
        "during_reload": _figures([s for at, s, _ in sent if during(at)]),
        "switches": [
            {
                "to": s["version"][-6:],
                "worker_load_s": [w["load_s"] for w in s["workers"]],
                "promote_to_swap_s": [round(w["at"] - s["asked"], 2) for w in s["workers"]],
            }
            for s in switches
        ],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2), encoding="utf-8")
    return 0 if result["failed"] == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
