"""The ``triage`` command starts fast: help loads no heavy library and no part of the service
but its commands (which come in through the ``triage.commands`` entry point)."""

import json
import subprocess
import sys

import pytest

HEAVY = (
    "flask",
    "sqlalchemy",
    "sklearn",
    "pandas",
    "numpy",
    "scipy",
    "jieba",
    "tqdm",
    "api.factory",
)

PROBE = """
import json, sys
from click.testing import CliRunner
from triage.cli import cli
result = CliRunner().invoke(cli, sys.argv[1:])
print(json.dumps({"exit": result.exit_code, "output": result.output, "modules": sorted(sys.modules)}))
"""


def _help(*args: str) -> dict:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, check=True
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize(
    "args",
    (
        ("--help",),
        ("predict", "cases", "--help"),
        ("train", "risk", "--help"),
        ("score-orders", "--help"),
        ("serve", "--help"),
    ),
)
def test_help_loads_no_heavy_library(args):
    probe = _help(*args)
    assert probe["exit"] == 0, probe["output"]
    loaded = [
        name
        for name in probe["modules"]
        if any(name == heavy or name.startswith(heavy + ".") for heavy in HEAVY)
    ]
    assert loaded == []


def test_service_commands_come_through_the_entry_point():
    probe = _help("--help")
    for command in ("serve", "keys", "db", "predict", "score-orders", "retrain"):
        assert f"  {command} " in probe["output"]
    assert "api.commands" in probe["modules"]
