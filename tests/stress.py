"""make stress: every test that starts a process or uses threads, run again and again while a
CPU burner keeps every core busy; it reports each test that failed and how often.

    python -m tests.stress [--rounds 20] [--burners N] [--log FILE] [pytest args...]

Without pytest arguments it runs `TARGETS`: tests/system/ (real servers, killed processes,
kernels, the CLI in a process) but the soak test (a load test of its own, minutes per run), and
the in-process tests whose threads race (database faults, concurrent writers, hot reload). The
burner is one busy Python loop per core, in processes of their own, stopped at the end. Exit
status 1 when any test failed in any round. docs/RELIABILITY.md has the last result.
"""

from __future__ import annotations

import argparse
import collections
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGETS = [
    "tests/system",
    "--deselect",
    "tests/system/test_soak.py::test_soak_categorize_and_risk",
    "tests/test_faults_database.py",
    "tests/test_store.py::test_concurrent_writers_lose_nothing",
    "tests/test_hot_reload.py",
]


def _burn() -> None:  # pragma: no cover - runs in a burner process
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        pass


def _interrupt(*_) -> None:
    raise KeyboardInterrupt


def _stop_burners(burners: list[multiprocessing.Process]) -> None:
    for burner in burners:
        if burner.is_alive():
            burner.terminate()
            burner.join(10)


def _pytest(
    command: list[str], burners: list[multiprocessing.Process]
) -> subprocess.CompletedProcess:
    """One round in a process group of its own. Interrupted, the burners stop first (so that
    the teardown gets the cores), pytest gets SIGINT to stop its servers and PostgreSQL cluster
    (its session teardown), and if it has not ended 180 s later its whole group is killed:
    nothing of the round outlives the script."""
    process = subprocess.Popen(
        command,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate()
    except KeyboardInterrupt:
        _stop_burners(burners)
        process.send_signal(signal.SIGINT)
        try:
            process.communicate(timeout=180)
        except subprocess.TimeoutExpired:
            print("stress: pytest did not end 180 s after SIGINT; killing its process group")
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
        raise
    return subprocess.CompletedProcess(command, process.returncode, out, "")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--burners", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--log", type=Path, default=ROOT / "var" / "stress.log")
    args, pytest_args = parser.parse_known_args(argv)
    selection = pytest_args or TARGETS
    args.log.parent.mkdir(parents=True, exist_ok=True)
    signal.signal(signal.SIGTERM, _interrupt)  # killed: end the round and the burners cleanly
    burners = [multiprocessing.Process(target=_burn, daemon=True) for _ in range(args.burners)]
    for burner in burners:
        burner.start()
    failures: collections.Counter[str] = collections.Counter()
    runs: collections.Counter[str] = collections.Counter()
    started = time.monotonic()
    rounds, interrupted = 0, False
    try:
        with args.log.open("w", encoding="utf-8") as log:
            for round_ in range(1, args.rounds + 1):
                command = [sys.executable, "-m", "pytest", "-q", "-rfE", "-p", "no:cacheprovider"]
                done = _pytest([*command, *selection], burners)
                log.write(f"=== round {round_}: exit status {done.returncode}\n{done.stdout}\n")
                log.flush()
                summary = re.findall(r"(\d+) (passed|failed|error)", done.stdout)
                for count, kind in summary:
                    runs[kind] += int(count)
                failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", done.stdout, flags=re.M)
                failures.update(failed)
                if done.returncode not in (0, 1) and not failed:  # crashed, interrupted
                    failures[f"round {round_}: pytest exit status {done.returncode}"] += 1
                rounds = round_
                minutes = (time.monotonic() - started) / 60
                print(
                    f"round {round_}/{args.rounds}: exit {done.returncode}, "
                    f"{len(failed)} failed, {minutes:.1f} min so far",
                    flush=True,
                )
    except KeyboardInterrupt:
        interrupted = True
        print(f"stress: interrupted in round {rounds + 1}; the rounds done:")
    finally:
        _stop_burners(burners)
    total = sum(runs.values())
    print(
        f"stress: {rounds} rounds with {args.burners} CPU burners, {total} test runs "
        f"({runs['passed']} passed), {sum(failures.values())} failures, "
        f"{(time.monotonic() - started) / 60:.1f} min; log in {args.log}"
    )
    for name, count in failures.most_common():
        print(f"  {count:3d}x {name}")
    return 130 if interrupted else 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
