"""The command line in a real process: argv bytes that are not UTF-8."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests import test_hostile_cli
from tests.test_hostile_cli import error_lines, state

workspace = test_hostile_cli.workspace  # the same fixture: models and a database with rows


@pytest.mark.parametrize(
    "argv",
    (
        [b"predict", b"cases", b"--text", b"\xff\xfe caf\xe9 \xed\xa0\x80"],
        [b"models", b"promote", b"cases", b"\xff\xfe"],
        [b"train", b"cases", b"--data", b"/tmp/\xff\xfe.csv", b"--out", b"/tmp/x"],
    ),
    ids=("text", "version", "path"),
)
def test_invalid_utf8_arguments_in_a_real_process(workspace, argv):
    """argv bytes that are not UTF-8 (a shell passes them as they are): one line, exit 2."""
    script = Path(sys.executable).with_name("triage")
    command = (
        [os.fsencode(script)]
        if script.exists()
        else [sys.executable.encode(), b"-m", b"triage.cli"]
    )
    env = {**os.environ, "TRIAGE_DATA_DIR": str(workspace / "var")}
    before = state(workspace)
    child = subprocess.run(command + argv, capture_output=True, timeout=120, env=env)
    stderr = child.stderr.decode("utf-8", "replace")
    assert child.returncode == 2, stderr[-2000:]
    lines = error_lines(stderr)
    assert len(lines) == 1 and lines[0].startswith("error: "), stderr[-2000:]
    assert state(workspace) == before
