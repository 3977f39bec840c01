"""The layers are checked, not only described: the import-linter contracts of pyproject.toml
([tool.importlinter]) hold, and breaking one fails the check (so make check and make test fail)."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint(cwd: Path, pythonpath: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_hold():
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_data_importing_risk_breaks_the_check(tmp_path):
    ignore = shutil.ignore_patterns("__pycache__")
    for package in ("triage", "api"):
        shutil.copytree(ROOT / package, tmp_path / package, ignore=ignore)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    files = tmp_path / "triage" / "orders" / "data" / "files.py"
    files.write_text(
        files.read_text(encoding="utf-8") + "\nfrom triage.orders.risk import scoring  # noqa\n",
        encoding="utf-8",
    )
    done = _lint(tmp_path, pythonpath=tmp_path)
    assert done.returncode != 0
    assert "Orders: data <- risk <- suggestions BROKEN" in done.stdout
    assert "triage.orders.data.files -> triage.orders.risk.scoring" in done.stdout
