"""The README walkthrough, run as written against a real `triage serve`: corrections over HTTP,
`triage retrain cases`, and the running service answering with the promoted model."""

import os
import re
import shutil
import subprocess

import pytest

from tests.conftest import ROOT

README = ROOT / "README.md"
VENV_TRIAGE = ROOT / ".venv" / "bin" / "triage"
DEFAULT_URL = "http://127.0.0.1:8000"
#: what the README says the default model answers for its four cases
DEFAULT_ANSWERS = ["payment_fee", "other", "order_issue", "payment_fee"]


def walkthrough_blocks() -> list[str]:
    """The ```sh blocks of the README's walkthrough section, in order."""
    text = README.read_text(encoding="utf-8")
    section = text.split("\n## Walkthrough", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```sh\n(.*?)```", section, flags=re.S)


def test_the_walkthrough_has_its_steps():
    blocks = walkthrough_blocks()
    assert len(blocks) == 4
    assert "keys create --role analyst" in blocks[0] and "/v1/feedback" in blocks[0]
    assert "correct " in blocks[1] and "retrain cases" in blocks[2]
    for answer in DEFAULT_ANSWERS:
        assert f"`{answer}`" in README.read_text(encoding="utf-8")


@pytest.mark.skipif(not VENV_TRIAGE.exists(), reason=f"the walkthrough runs {VENV_TRIAGE}")
@pytest.mark.skipif(shutil.which("curl") is None, reason="the walkthrough uses curl")
def test_the_walkthrough_works_as_written(serve, tmp_path):
    env = {
        **os.environ,
        "TRIAGE_MODELS_DIR": str(tmp_path / "models"),
        "TRIAGE_DATA_DIR": str(tmp_path / "var"),
        "TRIAGE_WORKERS": "2",
    }
    # what `make run` does (see the Makefile): bootstrap, then serve
    subprocess.run(
        [str(VENV_TRIAGE), "bootstrap", "--demo-orders"],
        cwd=ROOT,
        env=env,
        check=True,
        capture_output=True,
    )
    served = serve(tmp_path / "models", tmp_path / "var", args=("--create-admin-key",))
    log = served.log
    setup, corrections, retrain, after = (
        b.replace(DEFAULT_URL, served.base) for b in walkthrough_blocks()
    )
    # between retraining and the last step, wait until both workers logged the reload (the
    # README's `sleep 10` is for people; a loaded test machine may need longer)
    wait = (
        "for i in $(seq 240); do "
        f"[ \"$(grep -c 'loaded in .* (was' {log})\" -ge 2 ] && break; sleep 0.5; done\n"
    )
    try:
        run = subprocess.run(
            ["bash", "-c", "\n".join([setup, corrections, retrain, wait, after])],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
    finally:
        served.stop()
    output = run.stdout
    assert run.returncode == 0, run.stderr[-3000:]

    before = re.findall(r"^(\w+) \((\S+)\): ", output, flags=re.M)
    assert [category for category, _ in before] == DEFAULT_ANSWERS, output
    [old_version] = {version for _, version in before}
    assert len(re.findall(r'"category":"account_health"', output)) == 4  # 4 corrections stored
    summary = re.search(
        r"^retrain cases: promoted; challenger (\S+) .* incl\. 4 corrections$", output, flags=re.M
    )
    assert summary, output
    new_version = summary.group(1)
    assert "exit status 0" in output
    assert re.search(rf"^  {new_version}\s+champion", output, flags=re.M)
    assert re.search(rf"^  {old_version}\s+available", output, flags=re.M)
    after_lines = re.findall(r"^(\w+) (\S+) [0-9a-f-]{36}$", output, flags=re.M)
    assert after_lines == [("account_health", new_version)] * 4, output
    reloads = re.findall(
        rf"\[(\d+)\] \[INFO\] triage\.api: model cases@{new_version} loaded", log.read_text()
    )
    assert len(set(reloads)) == 2  # both workers, without a restart
