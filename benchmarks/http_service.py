"""HTTP benchmark: POST /v1/cases/categorize next to the bare GET /healthz of the same server.

    .venv/bin/python benchmarks/http_service.py [--duration 10] [--workers 2] [--threads 1]
                                                [--tool auto|wrk|python] [--json FILE]

Starts ``triage serve`` (gunicorn, as `make run` does: access log on, written to a file) on a free
loopback port with a fresh database, the registry's champion case model (run `make bootstrap`
first) and one `predict` key, then loads it from a second process at concurrency 1, 8 and 32:
wrk (Debian's ``wrk``) when installed, else a Python load generator. Each case body is a real
text of the seed corpus's test split (zh, en and mixed, in corpus proportions), cycled. The
bare endpoint returns a constant; both run against the same server in the same run. Reports
requests per second, p50/p99 latency, and the server's CPU time per request (gunicorn master and
workers, from /proc: the figure least disturbed by other load on the machine); non-2xx answers
and socket errors are counted.
The rate limit is set out of reach (but still counted in the database on every request).
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WRK_SCRIPT = r"""
local bodies = {}
for line in io.lines(os.getenv("BENCH_BODIES")) do bodies[#bodies + 1] = line end
local i = 0
local token = os.getenv("BENCH_TOKEN")
local post = os.getenv("BENCH_METHOD") == "POST"
request = function()
  if not post then return wrk.format("GET", nil, {}) end
  i = i % #bodies + 1
  return wrk.format("POST", nil, {["Content-Type"] = "application/json",
                                  ["Authorization"] = "Bearer " .. token}, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  local out = io.open(os.getenv("BENCH_OUT"), "w")
  out:write(string.format(
    '{"requests": %d, "seconds": %f, "p50_us": %f, "p99_us": %f, "errors": %d, "status": %d}',
    summary.requests, summary.duration / 1e6, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
  out:close()
end
"""


def machine() -> str:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{os.cpu_count()} cores ({model}), {memory:.0f} GiB, Python {platform.python_version()}"


def texts(n: int = 600, seed: int = 0) -> list[str]:
    from triage.config import Settings
    from triage.corpus import load_corpus

    corpus = load_corpus(Settings.from_env().corpus_dir)
    test = corpus[corpus["split"] == "test"]
    return test.sample(min(n, len(test)), random_state=seed)["text"].tolist()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(folder: Path, workers: int, threads: int) -> tuple[subprocess.Popen, int, str]:
    from triage.config import Settings
    from triage.store import Store

    env = {
        **os.environ,
        "TRIAGE_DATA_DIR": str(folder / "var"),
        "TRIAGE_RATE_LIMIT_PER_MINUTE": str(10**9),
    }
    settings = Settings.from_env(environ=env)
    store = Store.from_settings(settings)
    store.migrate()
    token = store.create_key("predict", "benchmark")[1]
    store.dispose()
    port = free_port()
    log = (folder / "server.log").open("wb")
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "triage"),
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--threads",
            str(threads),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"server exited; see {folder / 'server.log'}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                if r.status == 200:
                    return server, port, token
        except OSError:
            pass
        time.sleep(0.5)
    raise SystemExit("server not ready after 180 s")


def server_cpu_seconds(master: int) -> float:
    """User + system CPU time of the gunicorn master and its workers (from /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid, ppid = int(stat.parent.name), int(fields[1])
        if pid == master or ppid == master:
            total += (int(fields[11]) + int(fields[12])) / tick
    return total


def run_wrk(
    port: int,
    method: str,
    path: str,
    concurrency: int,
    duration: float,
    bodies_file: Path,
    token: str,
    folder: Path,
) -> dict:
    script = folder / "bench.lua"
    script.write_text(WRK_SCRIPT)
    out = folder / "wrk.json"
    env = {
        **os.environ,
        "BENCH_BODIES": str(bodies_file),
        "BENCH_TOKEN": token,
        "BENCH_METHOD": method,
        "BENCH_OUT": str(out),
    }
    subprocess.run(
        [
            "wrk",
            "-t",
            str(min(concurrency, 2)),
            "-c",
            str(concurrency),
            "-d",
            f"{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(script),
            f"http://127.0.0.1:{port}{path}",
        ],
        env=env,
        check=True,
        capture_output=True,
    )
    raw = json.loads(out.read_text())
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / raw["seconds"],
        "p50_ms": raw["p50_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "errors": raw["errors"] + raw["status"],
    }


def _python_worker(port, method, path, bodies, token, concurrency, duration, queue) -> None:
    """A second process: `concurrency` threads, each one request at a time, new connection
    per request (gunicorn's sync workers close after each answer)."""
    deadline = time.monotonic() + duration
    results: list[list[float]] = [[] for _ in range(concurrency)]
    errors = [0] * concurrency
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}

    def loop(k: int) -> None:
        i = k
        while time.monotonic() < deadline:
            body = bodies[i % len(bodies)].encode() if method == "POST" else None
            i += concurrency
            started = time.perf_counter()
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                conn.request(method, path, body=body, headers=headers if body else {})
                response = conn.getresponse()
                response.read()
                conn.close()
                ok = response.status < 300
            except OSError:
                ok = False
            results[k].append(time.perf_counter() - started)
            errors[k] += not ok

    threads = [threading.Thread(target=loop, args=(k,)) for k in range(concurrency)]
    began = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    queue.put((sum(results, []), sum(errors), time.perf_counter() - began))


def run_python(
    port: int,
    method: str,
    path: str,
    concurrency: int,
    duration: float,
    bodies: list[str],
    token: str,
) -> dict:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(
        target=_python_worker,
        args=(port, method, path, bodies, token, concurrency, duration, queue),
    )
    proc.start()
    latencies, errors, seconds = queue.get()
    proc.join()
    latencies.sort()
    n = len(latencies)
    return {
        "requests": n,
        "rps": n / seconds,
        "p50_ms": latencies[n // 2] * 1000,
        "p99_ms": latencies[min(n - 1, int(n * 0.99))] * 1000,
        "errors": errors,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=10.0)
    parser.add_argument("--warmup", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[1, 8, 32])
    parser.add_argument("--tool", choices=("auto", "wrk", "python"), default="auto")
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    tool = args.tool
    if tool == "auto":
        tool = "wrk" if shutil.which("wrk") else "python"

    corpus_texts = texts()
    bodies = [json.dumps({"text": t}, ensure_ascii=False) for t in corpus_texts]
    folder = Path(tempfile.mkdtemp(prefix="triage-bench-"))
    bodies_file = folder / "bodies.jsonl"
    bodies_file.write_text("\n".join(bodies) + "\n", encoding="utf-8")
    server, port, token = start_server(folder, args.workers, args.threads)
    endpoints = (
        ("bare GET /healthz", "GET", "/healthz"),
        ("POST /v1/cases/categorize", "POST", "/v1/cases/categorize"),
    )
    rows = []
    try:
        for concurrency in args.concurrency:
            for label, method, path in endpoints:

                def once(seconds: float, method=method, path=path, concurrency=concurrency) -> dict:
                    if tool == "wrk":
                        return run_wrk(
                            port, method, path, concurrency, seconds, bodies_file, token, folder
                        )
                    return run_python(port, method, path, concurrency, seconds, bodies, token)

                once(args.warmup)
                cpu = server_cpu_seconds(server.pid)
                result = {"endpoint": label, "concurrency": concurrency, **once(args.duration)}
                cpu = server_cpu_seconds(server.pid) - cpu
                result["server_cpu_ms_per_request"] = 1000 * cpu / max(result["requests"], 1)
                rows.append(result)
                print(
                    f"{label:28s} c={concurrency:<3d} {result['rps']:8.1f} req/s  "
                    f"p50 {result['p50_ms']:7.2f} ms  p99 {result['p99_ms']:7.2f} ms  "
                    f"server CPU {result['server_cpu_ms_per_request']:5.2f} ms/req  "
                    f"errors {result['errors']}",
                    flush=True,
                )
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    summary = {
        "machine": machine(),
        "tool": tool,
        "workers": args.workers,
        "threads": args.threads,
        "duration_s": args.duration,
        "texts": len(corpus_texts),
        "mean_text_chars": round(sum(map(len, corpus_texts)) / len(corpus_texts), 1),
        "rows": rows,
    }
    print()
    print(
        f"machine: {summary['machine']}; load: {tool}; gunicorn {args.workers} worker(s) x "
        f"{args.threads} thread(s); {args.duration:g} s per cell"
    )
    print("| endpoint | concurrency | req/s | p50 ms | p99 ms | server CPU ms/req | errors |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['endpoint']} | {r['concurrency']} | {r['rps']:.0f} | {r['p50_ms']:.2f} | "
            f"{r['p99_ms']:.2f} | {r['server_cpu_ms_per_request']:.2f} | {r['errors']} |"
        )
    for concurrency in args.concurrency:
        bare, cat = (r for r in rows if r["concurrency"] == concurrency)
        print(f"c={concurrency}: categorize / bare throughput = {cat['rps'] / bare['rps']:.2f}")
    if args.json:
        args.json.write_text(json.dumps(summary, indent=2))
    shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
