"""The key, database and serve commands in process (`triage serve` under gunicorn for real:
tests/system/test_serve.py)."""

import json
import re
import socket

import pytest
from click.testing import CliRunner

from triage.cli import cli


@pytest.fixture
def run(tmp_path, monkeypatch):
    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))

    def invoke(*args):
        return CliRunner().invoke(cli, [*map(str, args)], catch_exceptions=False)

    return invoke


def test_keys_create_list_revoke(run):
    created = run("keys", "create", "--role", "analyst", "--name", "notebook", "--json")
    assert created.exit_code == 0
    key = json.loads(created.output)
    assert key["role"] == "analyst" and key["token"].startswith(f"ctk_{key['id']}_")
    listing = run("keys", "list")
    assert key["id"] in listing.output and "active" in listing.output
    assert key["token"] not in listing.output
    assert run("keys", "revoke", key["id"]).exit_code == 0
    assert "revoked" in run("keys", "list").output
    again = run("keys", "revoke", key["id"])
    assert again.exit_code == 2 and again.output.startswith("error: no active key")


def test_keys_create_refuses_an_unknown_role(run):
    result = run("keys", "create", "--role", "root")
    assert result.exit_code == 2 and "root" in result.output


def test_db_upgrade_and_current(run):
    from alembic.script import ScriptDirectory

    from triage.store import MIGRATIONS

    newest = ScriptDirectory(str(MIGRATIONS)).get_current_head()  # the last migration shipped
    assert newest is not None and f"schema at revision {newest}" in run("db", "upgrade").output
    assert run("db", "current").output.split() == ["current", newest, "newest", newest]


def test_serve_refuses_a_busy_port(run):
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = run("serve", "--port", port)
    assert result.exit_code == 2
    assert re.search(rf"error: cannot listen on 127.0.0.1:{port}", result.output)


@pytest.mark.parametrize("args", (("--workers", "0"), ("--port", "70000")))
def test_serve_refuses_bad_options(run, args):
    result = run("serve", *args)
    assert result.exit_code == 2 and result.output.startswith("error:")
