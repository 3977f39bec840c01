"""A throwaway PostgreSQL cluster for the tests (the `postgres` fixture of tests/conftest.py).

Debian's ``postgresql`` package (``make test`` installs it when it runs as root): ``initdb`` and
``pg_ctl`` run as the ``postgres`` user when the tests run as root, since initdb refuses root.
The cluster lives in a temporary folder, listens on a free port of 127.0.0.1 only (its socket
in the same folder), trusts local connections, and skips fsync (a test database is thrown
away). Each test gets a database of its own; `stop` ends the server and removes the folder.

The server runs in the foreground as the test process's child (``postgres``, not ``pg_ctl
start``, which daemonizes it), asked to quit when its parent dies (tests/children.py): a test
run killed before its teardown (a stress round cut short, a CI timeout) leaves no server behind.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from tests.children import quit_with_parent

START_TIMEOUT = 60  # seconds for the server to accept connections


class PostgresUnavailable(RuntimeError):
    """No cluster can be started here; the message says why."""


def _bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).resolve().parent
    versions = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
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
        self.server: subprocess.Popen | None = None

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
            cluster._serve()
        except (OSError, subprocess.SubprocessError, PostgresUnavailable) as error:
            log = cluster.log.read_text(errors="replace")[-2000:] if cluster.log.exists() else ""
            output = getattr(error, "stdout", "") or ""
            cluster.stop()
            raise PostgresUnavailable(f"the server did not start: {error}\n{output}{log}") from None
        return cluster

    def _serve(self) -> None:
        """Start ``postgres`` in the foreground, as the cluster's user, and wait until it takes
        connections (or has exited)."""
        try:
            import psycopg
        except ImportError:
            raise PostgresUnavailable(
                "the driver is missing: pip install -e '.[postgres]'"
            ) from None
        settings = {
            "listen_addresses": "127.0.0.1",
            "unix_socket_directories": str(self.root),
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "400",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        account = pwd.getpwnam(self.user) if self.user else None
        with self.log.open("ab") as log:
            self.server = subprocess.Popen(
                [str(self.bin_dir / "postgres"), "-D", str(self.data), "-p", str(self.port),
                 *options],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.root,
                user=account.pw_uid if account else None,
                group=account.pw_gid if account else None,
                extra_groups=[] if account else None,
                preexec_fn=quit_with_parent,
            )  # fmt: skip
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            if self.server.poll() is not None:
                raise PostgresUnavailable(f"postgres exited with status {self.server.returncode}")
            try:
                with psycopg.connect(
                    host="127.0.0.1", port=self.port, user="postgres", dbname="postgres",
                    connect_timeout=2,
                ):  # fmt: skip
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(
                        f"postgres took no connection in {START_TIMEOUT} s"
                    ) from None
                time.sleep(0.1)

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
        """Stop the server at once (its immediate shutdown) and remove its folder."""
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGQUIT)
            try:
                self.server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        shutil.rmtree(self.root, ignore_errors=True)
