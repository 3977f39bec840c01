"""The tests' throwaway PostgreSQL cluster (tests/pg.py) ends with the test process that started
it, even when that process is killed before its teardown."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.postgres

STARTER = """
import time
from tests.pg import Cluster, PostgresUnavailable
try:
    cluster = Cluster.start()
except PostgresUnavailable as why:
    print("unavailable", why, flush=True)
    raise SystemExit(3)
print(cluster.port, cluster.root, flush=True)
time.sleep(300)
"""


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting for its parent."""
    stat = Path(f"/proc/{pid}/stat")
    try:
        return stat.read_text().split(")")[-1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_server_ends_when_the_process_that_started_it_is_killed():
    psycopg = pytest.importorskip("psycopg")
    starter = subprocess.Popen(
        [sys.executable, "-c", STARTER], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    line = starter.stdout.readline().split()
    if not line or line[0] == "unavailable":
        starter.kill()
        starter.wait()
        pytest.skip(f"no PostgreSQL server could be started: {' '.join(line[1:])}")
    port, root = int(line[0]), Path(line[1])
    pid = int((root / "data" / "postmaster.pid").read_text().split()[0])  # the server's own
    try:
        with psycopg.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres") as c:
            assert c.execute("SELECT 1").fetchone() == (1,)
        starter.kill()  # SIGKILL: no teardown runs in the starter
        starter.wait()
        deadline = time.monotonic() + 20
        while _alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(pid), "the PostgreSQL server outlived the killed process that started it"
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(
                host="127.0.0.1", port=port, user="postgres", dbname="postgres", connect_timeout=2
            )
    finally:
        if _alive(pid):
            os.kill(pid, signal.SIGQUIT)
        shutil.rmtree(root, ignore_errors=True)
