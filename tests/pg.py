"""A throwaway PostgreSQL cluster for the tests (the `postgres` fixture of tests/conftest.py).

Debian's ``postgresql`` package (``make test`` installs it when it runs as root): ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when the tests run as root, since initdb refuses root.
The cluster lives in a temporary folder, listens on a free port of 127.0.0.1 only (its socket
in the same folder), trusts local connections, and skips fsync (a test database is thrown
away). Each test gets a database of its own; `stop` ends the server and removes the folder.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path


class PostgresUnavailable(RuntimeError):
    """No cluster can be started here; the message says why."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0,
    )
    if not versions:
        raise PostgresUnavailable(
            "PostgreSQL is not installed (Debian: apt-get install postgresql; make test does "
            "it when it runs as root)"
        )
    return Path(versions[-1]).parent


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Cluster:
    """A PostgreSQL server of its own: `Cluster.start()`, `create_database()`, `stop()`."""

    def __init__(self, bin_dir: Path, root: Path, port: int, user: str | None):
        self.bin_dir, self.root, self.port, self.user = bin_dir, root, port, user
        self.data, self.log = root / "data", root / "server.log"

    @classmethod
    def start(cls) -> Cluster:
        bin_dir = _bin_dir()
        root = Path(tempfile.mkdtemp(prefix="triage-pg-"))
        user = None
        if os.geteuid() == 0:  # initdb refuses root: the cluster belongs to the postgres user
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                shutil.rmtree(root, ignore_errors=True)
                raise PostgresUnavailable("running as root and there is no postgres user") from None
            os.chown(root, account.pw_uid, account.pw_gid)
            user = "postgres"
        cluster = cls(bin_dir, root, _free_port(), user)
        try:
            cluster._run(
                "initdb", "-D", cluster.data, "-U", "postgres", "-A", "trust", "-E", "UTF8",
                "--locale=C", "--no-sync",
            )  # fmt: skip
            options = " ".join(
                [
                    f"-p {cluster.port}",
                    "-c listen_addresses=127.0.0.1",
                    f"-c unix_socket_directories={root}",
                    "-c fsync=off",
                    "-c synchronous_commit=off",
                    "-c full_page_writes=off",
                    "-c max_connections=400",
                ]
            )
            cluster._run(
                "pg_ctl", "-D", cluster.data, "-l", cluster.log, "-o", options, "-w", "-t", "60",
                "start",
            )  # fmt: skip
        except (OSError, subprocess.CalledProcessError) as error:
            log = cluster.log.read_text(errors="replace")[-2000:] if cluster.log.exists() else ""
            output = getattr(error, "stdout", "") or ""
            cluster.stop()
            raise PostgresUnavailable(f"the server did not start: {error}\n{output}{log}") from None
        return cluster

    def _run(self, program: str, *args) -> str:
        command = [str(self.bin_dir / program), *map(str, args)]
        if self.user:
            command = ["runuser", "-u", self.user, "--", *command]
        done = subprocess.run(
            command, check=True, capture_output=True, text=True, timeout=120, cwd=self.root
        )
        return done.stdout

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    @contextlib.contextmanager
    def admin(self) -> Iterator:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            yield conn

    def create_database(self) -> str:
        """A new empty database; its SQLAlchemy URL."""
        name = f"t_{uuid.uuid4().hex[:16]}"
        with self.admin() as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    @contextlib.contextmanager
    def down(self, database: str) -> Iterator[None]:
        """`database` refuses connections and its open ones are cut, until the block ends (the
        server stopped, as far as the service can tell; other tests' databases are untouched)."""
        with self.admin() as conn:
            conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (database,),
            )
        try:
            yield
        finally:
            with self.admin() as conn:
                conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')

    def stop(self) -> None:
        """Stop the server at once and remove its folder."""
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                self._run("pg_ctl", "-D", self.data, "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
