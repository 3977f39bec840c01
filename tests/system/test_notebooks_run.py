"""The analyst notebooks run top to bottom on the default data (a Jupyter kernel each) and
leave no folder behind."""

import nbformat
import pytest

from tests.test_notebooks import NOTEBOOKS


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path, monkeypatch):
    from nbclient import NotebookClient

    monkeypatch.setenv("TRIAGE_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRIAGE_MODELS_DIR", str(tmp_path / "models"))
    scratch = tmp_path / "tmp"  # the kernel's tempfile folder: the notebook's demo folder
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(path.parent)}}).execute()
    errors = [o for c in notebook.cells for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    left = sorted(p.name for p in scratch.iterdir())
    assert not left, f"the notebook's last cell removes its demo folder; left: {left}"
