"""Batch scoring beyond one process: risk snapshots and case texts per second, in one process
and on Dask with 1 and 2 worker processes, with the peak memory of the client and each worker.

    .venv/bin/python benchmarks/scale.py all --dir /tmp/scale --orders 500000,2000000 \\
        --texts 1000000 --workers 1,2 [--days 60] [--given-history] [--incremental N] [--json]

`all` writes the data once per size, then runs every configuration in a fresh process (so each
peak RSS is that configuration's own) and prints a table:

1. Orders: a simulated marketplace (triage.orders.data.simulator) of `--orders` orders, built
   in shards of 250,000 (seeds 0, 1, ...; ids prefixed by the shard, seller names shared by the
   shards) over `--days` days, cut at the end of the last day of purchases (``triage simulate
   --open-at``: later deliveries still open), written as Parquet parts of 100,000 orders with
   their events.
2. Risk: every open order scored as of the end of the data. In one process (limited to one
   thread): read and validate, history (`OrderFeatures`), `score_frame`. On Dask: the same
   through triage.scale.orders.score_orders (scoring time, sums per key at its cut-offs,
   then the open orders shuffled, scored and written), on a LocalCluster of N single-threaded
   worker processes. Snapshots per second per core = open orders scored / seconds / cores
   used. `--local-up-to N` leaves out the one-process run above N orders (it holds all).
   `--given-history` adds one more configuration per size, "given": the same open orders
   scored in one process against the sums per key at the cut-offs (triage.scale.history) and
   with the open orders and their events already picked out, which is what a run that kept
   them from the day before would start from; its snapshots per second count the scoring
   alone (reading, summing and picking are reported apart). `--incremental N` adds
   "incremental": ``score-orders --state`` (triage.scale.state) built from the marketplace as
   known N days before the end, then one run per day, each in a fresh process and one
   thread, reading only that day's parts (the orders bought or delivered that day, whole,
   and its events); its figure is the last day's run, end to end (reading the state and the
   day's parts, history, scoring, writing the state).
3. Cases: `--texts` texts (the corpus's texts cycled) in Parquet parts of 50,000, predicted by
   a TF-IDF case model (the encoder of the default model costs ~8 ms a text: see the docs) in
   one process and through triage.scale.cases.predict_cases.

Peak RSS: VmHWM of the process (the client, with the LocalCluster's scheduler in it) and of
each worker process, read with ``client.run`` at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SHARD = 250_000
PART = 100_000
TEXT_PART = 50_000


def peak_rss_mb() -> float:
    """This process's peak resident memory: VmHWM, which starts afresh at exec (``ru_maxrss``
    would carry the forking parent's size into a child)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    raise RuntimeError("no VmHWM in /proc/self/status")


def _worker_peak() -> float:  # runs in each worker
    return peak_rss_mb()


def cpu_seconds() -> float:
    """CPU time (user + system) this process used so far: unlike the wall clock, it does not
    grow when other programs take the cores."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


# -- data ----------------------------------------------------------------------------------
def generate_orders(root: Path, n: int, days: int, incremental: int = 0) -> None:
    """The tables as known at the end of the last day of purchases (later deliveries still
    open) as Parquet parts under `root`/orders and `root`/events. With `incremental` N, also
    the same marketplace as known N days earlier under `root`/incremental/base, and what
    changed on each of the N days after it under `root`/incremental/day-K: the orders bought
    or delivered that day (whole rows) and that day's events, in parts named to sort after
    the base's."""
    import numpy as np
    import pandas as pd

    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.snapshots import censor

    open_at = pd.Timestamp("2024-01-01", tz="UTC") + pd.Timedelta(days=days)
    cuts = [open_at - pd.Timedelta(days=incremental - k) for k in range(incremental + 1)]
    base = root / "incremental" / "base"
    for folder in [root, *([base] if incremental else [])]:
        (folder / "orders").mkdir(parents=True)
        (folder / "events").mkdir(parents=True)
    part = 0
    for shard, start in enumerate(range(0, n, SHARD)):
        size = min(SHARD, n - start)
        sim = simulate_marketplace(max(size, 10), seed=shard, days=days, start="2024-01-01")
        for table in (sim.orders, sim.events):
            table["order_id"] = f"S{shard:02d}-" + table["order_id"].astype(str)
        known = [censor(sim.orders, sim.events, at) for at in cuts]
        first = part
        for folder, (orders, events) in [
            (root, known[-1]),
            *([(base, known[0])] * bool(incremental)),
        ]:
            part = first
            for rows in np.array_split(np.arange(len(orders)), max(1, round(len(orders) / PART))):
                chunk = orders.iloc[rows]
                chunk.to_parquet(folder / "orders" / f"part-{part:04d}.parquet", index=False)
                mine = events[events["order_id"].isin(chunk["order_id"])]
                mine.to_parquet(folder / "events" / f"part-{part:04d}.parquet", index=False)
                part += 1
        for k in range(1, incremental + 1):
            (before, _), (orders, events) = known[k - 1], known[k]
            was = orders["order_id"].map(before.set_index("order_id")["delivered_at"])
            fresh = ~orders["order_id"].isin(before["order_id"]).to_numpy()
            delivered = (was.isna() & orders["delivered_at"].notna()).to_numpy()
            folder = root / "incremental" / f"day-{k}"
            name = f"part-day{k:02d}-{shard:02d}.parquet"
            for table, frame in [
                ("orders", orders[fresh | delivered]),
                ("events", events[events["time"] > cuts[k - 1]]),
            ]:
                (folder / table).mkdir(parents=True, exist_ok=True)
                frame.to_parquet(folder / table / name, index=False)


def generate_texts(root: Path, n: int) -> None:
    import numpy as np
    import pandas as pd

    from triage.corpus import load_corpus

    texts = load_corpus(ROOT / "data" / "corpus")["text"].to_numpy(object)
    root.mkdir(parents=True)
    cycled = texts[np.arange(n) % len(texts)]
    for i, start in enumerate(range(0, n, TEXT_PART)):
        frame = pd.DataFrame({"text": cycled[start : start + TEXT_PART]})
        frame.to_parquet(root / f"part-{i:04d}.parquet", index=False)


def train_models(root: Path) -> None:
    import joblib

    from triage.cases.training import fit_case_model
    from triage.corpus import load_corpus
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.training import build_dataset, fit_risk_model, time_split

    sim = simulate_marketplace(20_000, seed=99, days=60, start="2024-01-01")
    dataset = build_dataset(sim.orders, sim.events)
    train, _ = time_split(dataset)
    risk = fit_risk_model(dataset, train, params={"random_state": 0}, target_precision=0.6)
    joblib.dump(risk, root / "risk.joblib")
    corpus = load_corpus(ROOT / "data" / "corpus")
    corpus = corpus[corpus["split"] == "train"]
    cases = fit_case_model(
        corpus["text"].tolist(), corpus["category"].tolist(), params={"embeddings": None}
    )
    joblib.dump(cases, root / "cases.joblib")


# -- one configuration per process -----------------------------------------------------------
def _cluster(workers: int):
    import logging

    import dask
    from distributed import Client, LocalCluster

    from triage.scale.cluster import WORKER_CONFIG

    with dask.config.set(WORKER_CONFIG):  # as `triage` starts its own LocalCluster
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            dashboard_address=None,
            silence_logs=logging.CRITICAL,
        )
    return cluster, Client(cluster)


def run_risk(root: Path, models: Path, engine: str, workers: int) -> dict:
    import joblib

    from triage.orders.risk.scoring import RiskScorer

    scorer = RiskScorer(joblib.load(models / "risk.joblib"))
    result: dict = {"engine": engine, "workers": workers, "load_before": os.getloadavg()}
    if engine == "local":
        from threadpoolctl import threadpool_limits

        from triage.orders.risk.features import OrderFeatures

        with threadpool_limits(limits=1):
            cpu = cpu_seconds()
            start = time.perf_counter()
            orders, events = _read_tables(root)
            read = time.perf_counter()
            features = OrderFeatures(orders, events)
            built = time.perf_counter()
            frame = scorer.score_frame(orders, events, features=features)
            done = time.perf_counter()
        result.update(
            orders=len(orders),
            scored=len(frame),
            read_s=round(read - start, 1),
            history_s=round(built - read, 1),
            scoring_s=round(done - built, 1),
            total_s=round(done - start, 1),
            cores=1,
            cpu_s=round(cpu_seconds() - cpu, 1),
        )
    elif engine == "given":
        result.update(_risk_given_history(root, scorer))
    elif engine == "incremental":
        result.update(_risk_incremental(root, models, scorer))
    elif engine == "state-day":  # one day of the above, in its own process
        result.update(_state_run(root, scorer), cores=1)
    else:
        from triage.scale.orders import score_orders

        cluster, client = _cluster(workers)
        stages: dict[str, float] = {}

        def progress(stage: str, total: int):
            stages[stage] = time.perf_counter()
            return lambda: None

        out = root.parent / f"{root.name}-out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        cpu_before = client.run(cpu_seconds)
        cpu = cpu_seconds()
        start = time.perf_counter()
        summary = score_orders(
            client, str(root / "orders"), str(root / "events"), scorer, str(out), progress=progress
        )
        done = time.perf_counter()
        result.update(
            orders=summary["orders"],
            scored=summary["scored"],
            # the scoring time, the sums per key at its cut-offs, their copies to the workers
            history_s=round(stages["scoring"] - start, 1),
            scoring_s=round(done - stages["scoring"], 1),
            total_s=round(done - start, 1),
            cores=workers,
            worker_peak_rss_mb=sorted(round(v, 1) for v in client.run(_worker_peak).values()),
            shared_bytes=summary["shared_bytes"],
            # CPU seconds of each worker during the run, and of the client with the scheduler
            worker_cpu_s=sorted(
                round(v - cpu_before[k], 1) for k, v in client.run(cpu_seconds).items()
            ),
            client_cpu_s=round(cpu_seconds() - cpu, 1),
        )
        client.close()
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)
    result["snapshots_per_s_per_core"] = round(
        result["scored"] / result["total_s"] / result["cores"]
    )
    result["client_peak_rss_mb"] = peak_rss_mb()
    result["load_after"] = os.getloadavg()
    return result


def _read_tables(root: Path):
    """The validated orders and events of the Parquet parts under `root`."""
    import pandas as pd

    from triage.orders.data.schema import validate_events, validate_orders

    orders = validate_orders(pd.read_parquet(root / "orders"))
    return orders, validate_events(pd.read_parquet(root / "events"), orders["order_id"])


def _risk_given_history(root: Path, scorer) -> dict:
    """What a run costs once the history's sums at the cut-offs and the open orders with their
    events are at hand (what an incremental run would keep between runs; not built here): one
    process, one thread; reading, the sums and picking the open orders are timed apart, and
    the snapshots per second count the scoring alone (features over the sums + the model)."""
    import copy

    import pandas as pd
    from threadpoolctl import threadpool_limits

    from triage.orders.risk.features import OrderFeatures
    from triage.orders.risk.scoring import scoring_time
    from triage.scale.history import cut_times
    from triage.scale.orders import LEDGER_COLUMNS, _firsts, _history, _summary

    with threadpool_limits(limits=1):
        start = time.perf_counter()
        orders, events = _read_tables(root)
        read = time.perf_counter()
        t = scoring_time(orders, events)
        history = _history(
            _summary(orders[LEDGER_COLUMNS], _firsts(events), cut_times(orders, t), t)
        )
        summed = time.perf_counter()
        n_orders = len(orders)
        mine = orders.iloc[scorer.open_rows(orders, events, t)].reset_index(drop=True)
        theirs = events[events["order_id"].isin(mine["order_id"])]
        theirs = theirs.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)
        del orders, events
        picked = time.perf_counter()
        cpu = cpu_seconds()
        features = OrderFeatures(
            mine, theirs, history=history, vocabulary=copy.deepcopy(history.vocabulary)
        )
        as_of = pd.Timestamp(t, unit="s", tz="UTC")
        frame = scorer.score_frame(mine, theirs, as_of=as_of, features=features)
        done = time.perf_counter()
        cpu = cpu_seconds() - cpu
    return {
        "orders": n_orders,
        "scored": len(frame),
        "read_s": round(read - start, 1),
        "history_s": round(summed - read, 1),
        "pick_open_s": round(picked - summed, 1),
        "scoring_s": round(done - picked, 2),
        "scoring_cpu_s": round(cpu, 2),
        # the figure of this configuration: scoring alone, not the total
        "total_s": round(done - picked, 2),
        "cores": 1,
        "history_bytes": len(pickle.dumps(history, protocol=pickle.HIGHEST_PROTOCOL)),
    }


def _risk_incremental(root: Path, models: Path, scorer) -> dict:
    """Daily runs of ``score-orders --state`` (triage.scale.state): the state built here from
    the parts known N days before the end (a first run reads everything), then one run per day,
    each in a fresh process (its peak memory its own), reading only that day's parts. The
    figure of this configuration is the last day's: open orders scored / its wall-clock time."""
    incremental = root / "incremental"
    work = root.parent / f"{root.name}-state"
    shutil.rmtree(work, ignore_errors=True)
    days = sorted(incremental.glob("day-*"), key=lambda p: int(p.name.split("-")[1]))
    runs = []
    for source in [incremental / "base", *days]:
        for table in ("orders", "events"):
            (work / table).mkdir(parents=True, exist_ok=True)
            for part in (source / table).iterdir():
                os.link(part, work / table / part.name)  # the day's parts arrive
        if source.name == "base":
            run = _state_run(work, scorer)
        else:
            run = _child("risk", "--dir", str(models), "--data", str(work),
                         "--engine", "state-day", "--workers", "1")  # fmt: skip
        runs.append({"day": source.name, **run})
        print(json.dumps(runs[-1]), file=sys.stderr)
    state_bytes = sum(f.stat().st_size for f in (work / "state").rglob("*") if f.is_file())
    shutil.rmtree(work, ignore_errors=True)
    last = runs[-1]
    return {
        "orders": None,
        "scored": last["scored"],
        "total_s": last["total_s"],
        "cpu_s": last["cpu_s"],
        "cores": 1,
        "runs": runs,
        "state_bytes": state_bytes,
        "snapshots_per_cpu_s": round(last["scored"] / last["cpu_s"]),
    }


def _state_run(work: Path, scorer) -> dict:
    """One run from the state under `work` over its parts: one thread (numpy, pyarrow)."""
    import pyarrow as pa
    from threadpoolctl import threadpool_limits

    from triage.scale.state import RiskState

    pa.set_cpu_count(1)
    pa.set_io_thread_count(1)
    with threadpool_limits(limits=1):
        cpu, start = cpu_seconds(), time.perf_counter()
        state = RiskState.load(work / "state")
        loaded = time.perf_counter()
        run = state.apply_parts(str(work / "orders"), str(work / "events"))
        applied = time.perf_counter()
        frame = scorer.score_frame(run.orders, run.events, as_of=run.as_of, features=run.features)
        scored = time.perf_counter()
        state.save()
        done = time.perf_counter()
    return {
        "read_orders": run.read["orders"],
        "read_events": run.read["events"],
        "scored": len(frame),
        "live_orders": len(state.live),
        "settled_orders": len(state.settled["h1"]),
        "load_s": round(loaded - start, 2),
        "apply_s": round(applied - loaded, 2),
        "scoring_s": round(scored - applied, 2),
        "save_s": round(done - scored, 2),
        "total_s": round(done - start, 2),
        "cpu_s": round(cpu_seconds() - cpu, 2),
        "peak_rss_mb": peak_rss_mb(),
    }


def run_cases(texts: Path, models: Path, engine: str, workers: int) -> dict:
    import joblib
    import pandas as pd

    from triage.cases.router import CaseRouter
    from triage.taxonomy import load_taxonomy

    router = CaseRouter(joblib.load(models / "cases.joblib"), load_taxonomy()).warm()
    result: dict = {"engine": engine, "workers": workers}
    if engine == "local":
        from threadpoolctl import threadpool_limits

        with threadpool_limits(limits=1):
            start = time.perf_counter()
            values = pd.read_parquet(texts)["text"].tolist()
            predicted = 0
            for i in range(0, len(values), 256):
                predicted += len(router.predict(values[i : i + 256]))
            seconds = time.perf_counter() - start
        result.update(texts=predicted, total_s=round(seconds, 1), cores=1)
    else:
        from triage.scale.cases import predict_cases

        cluster, client = _cluster(workers)
        out = texts.parent / f"{texts.name}-out-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        start = time.perf_counter()
        summary = predict_cases(client, str(texts), "text", router, str(out))
        seconds = time.perf_counter() - start
        result.update(
            texts=summary["texts"],
            total_s=round(seconds, 1),
            cores=workers,
            worker_peak_rss_mb=sorted(round(v, 1) for v in client.run(_worker_peak).values()),
        )
        client.close()
        cluster.close()
        shutil.rmtree(out, ignore_errors=True)
    result["texts_per_s"] = round(result["texts"] / result["total_s"])
    result["client_peak_rss_mb"] = peak_rss_mb()
    return result


def _child(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, __file__, *args], capture_output=True, text=True, check=False
    )
    if done.returncode:
        sys.stderr.write(done.stderr[-3000:])
        raise SystemExit(f"{' '.join(args)} failed")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("command", choices=["all", "risk", "cases"])
    parser.add_argument("--dir", type=Path, required=True, help="scratch directory (removed)")
    parser.add_argument("--orders", default="500000,2000000")
    parser.add_argument("--texts", type=int, default=1_000_000)
    parser.add_argument("--workers", default="1,2")
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument(
        "--local-up-to",
        type=int,
        default=None,
        help="run the one-process engine only up to this many orders (it holds everything)",
    )
    parser.add_argument(
        "--given-history",
        action="store_true",
        help="also time scoring alone, the history's sums and the open orders at hand",
    )
    parser.add_argument(
        "--incremental",
        type=int,
        default=0,
        metavar="N",
        help="also run score-orders --state day by day over the last N days of the data",
    )
    parser.add_argument("--engine", default="local", help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.command == "risk":
        workers = int(args.workers)
        print(json.dumps(run_risk(args.data, args.dir, args.engine, workers)))
        return 0
    if args.command == "cases":
        workers = int(args.workers)
        print(json.dumps(run_cases(args.data, args.dir, args.engine, workers)))
        return 0

    from risk_common import machine

    workers = [int(w) for w in args.workers.split(",") if w]
    document: dict = {"machine": machine(), "uptime_before": _uptime(), "risk": [], "cases": []}
    args.dir.mkdir(parents=True, exist_ok=False)
    try:
        train_models(args.dir)
        for n in (int(x) for x in args.orders.split(",") if x):
            data = args.dir / f"orders-{n}"
            start = time.perf_counter()
            generate_orders(data, n, args.days, args.incremental)
            print(f"{n} orders written in {time.perf_counter() - start:.0f} s", file=sys.stderr)
            local = args.local_up_to is None or n <= args.local_up_to
            given = [("given", 1)] if args.given_history else []
            given += [("incremental", 1)] if args.incremental else []
            for engine, w in [("local", 1)] * local + [("dask", w) for w in workers] + given:
                row = _child("risk", "--dir", str(args.dir), "--data", str(data),
                             "--engine", engine, "--workers", str(w))  # fmt: skip
                row["size"] = n
                print(json.dumps(row), file=sys.stderr)
                document["risk"].append(row)
            shutil.rmtree(data)
        if args.texts:
            texts = args.dir / f"texts-{args.texts}"
            generate_texts(texts, args.texts)
            for engine, w in [("local", 1), *(("dask", w) for w in workers)]:
                row = _child("cases", "--dir", str(args.dir), "--data", str(texts),
                             "--engine", engine, "--workers", str(w))  # fmt: skip
                print(json.dumps(row), file=sys.stderr)
                document["cases"].append(row)
    finally:
        shutil.rmtree(args.dir, ignore_errors=True)
    document["uptime_after"] = _uptime()
    print(json.dumps(document, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
