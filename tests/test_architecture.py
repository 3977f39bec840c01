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


def private_imports(root: Path) -> list[tuple[str, str, str]]:
    """(importer, module, name) of every `from module import _name` in triage/ and api/ where
    the module is another one: a private name is its own module's business. import-linter has
    no contract for this, so the source is read here."""
    import ast

    found = []
    for path in sorted([*(root / "triage").rglob("*.py"), *(root / "api").rglob("*.py")]):
        importer = ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found += [
                    (importer, node.module, alias.name)
                    for alias in node.names
                    if alias.name.startswith("_") and not alias.name.startswith("__")
                ]
    return found


def test_no_module_imports_another_modules_private_names(tmp_path):
    assert private_imports(ROOT) == []
    # and the check sees one when there is one
    (tmp_path / "triage").mkdir()
    (tmp_path / "api").mkdir()
    (tmp_path / "triage" / "a.py").write_text("from triage.b import _hidden\n", encoding="utf-8")
    assert private_imports(tmp_path) == [("triage.a", "triage.b", "_hidden")]
