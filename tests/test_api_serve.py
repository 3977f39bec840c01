"""`triage serve` (gunicorn for real, on a free loopback port) and the key commands."""

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from click.testing import CliRunner

from triage.cli import cli


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


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
    assert "schema at revision 0003" in run("db", "upgrade").output
    assert run("db", "current").output.split() == ["current", "0003", "newest", "0003"]


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


@pytest.mark.slow
def test_serve_starts_gunicorn_and_the_printed_curl_works(tmp_path, api_models_dir):
    port = free_port()
    log = tmp_path / "serve.log"
    env = {
        **os.environ,
        "TRIAGE_DATA_DIR": str(tmp_path / "var"),
        "TRIAGE_MODELS_DIR": str(api_models_dir),
        "TRIAGE_WORKERS": "2",
    }
    script = Path(sys.executable).with_name("triage")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "triage.cli"]
    with log.open("wb") as out:
        server = subprocess.Popen(
            [*command, "serve", "--port", str(port), "--create-admin-key"],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=env,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + 120
        status = None
        while time.monotonic() < deadline and server.poll() is None:
            try:
                status, body = _get(f"http://127.0.0.1:{port}/readyz")
            except (ConnectionError, urllib.error.URLError, TimeoutError):
                status = None
            if status == 200:
                break
            time.sleep(0.5)
        output = log.read_text()
        assert status == 200, output
        assert body["status"] == "ready" and body["models"]["cases"]["version"]
        assert "Starting gunicorn" in output and "Using worker: sync" in output
        assert len(re.findall(r"Booting worker with pid", output)) == 2
        assert _get(f"http://127.0.0.1:{port}/healthz") == (200, {"status": "ok"})

        example = re.search(r"^curl .*?\}'$", output, flags=re.S | re.M)
        assert example, output
        if shutil.which("curl"):
            answer = subprocess.run(
                ["bash", "-c", example.group(0)], capture_output=True, timeout=30, check=True
            )
            prediction = json.loads(answer.stdout)
            assert prediction["prediction_id"] and prediction["category"]
            assert prediction["model"]["name"] == "cases"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=60)
    assert server.returncode == 0, log.read_text()[-2000:]
