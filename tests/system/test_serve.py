"""`triage serve` for real: gunicorn on a free loopback port, two workers, the printed curl
and console address."""

import json
import re
import shutil
import subprocess
import urllib.request

from tests.conftest import http


def test_serve_starts_gunicorn_and_the_printed_curl_works(serve, tmp_path, api_models_dir):
    served = serve(api_models_dir, tmp_path / "var", args=("--create-admin-key",))
    status, body = http("GET", f"{served.base}/readyz")
    output = served.log.read_text()
    assert status == 200, output
    assert body["status"] == "ready" and body["models"]["cases"]["version"]
    assert "Starting gunicorn" in output and "Using worker: sync" in output
    assert len(re.findall(r"Booting worker with pid", output)) == 2
    assert http("GET", f"{served.base}/healthz") == (200, {"status": "ok"})

    example = re.search(r"^curl .*?\}'$", output, flags=re.S | re.M)
    assert example, output
    assert shutil.which("curl"), "the printed example is a curl command"
    answer = subprocess.run(
        ["bash", "-c", example.group(0)], capture_output=True, timeout=30, check=True
    )
    prediction = json.loads(answer.stdout)
    assert prediction["prediction_id"] and prediction["category"]
    assert prediction["model"]["name"] == "cases"

    # the operator console's address is printed beside the curl example, and answers
    console = re.search(r"operator console with it: (http://\S+/console)$", output, flags=re.M)
    assert console and console.group(1) == f"{served.base}/console", output
    with urllib.request.urlopen(f"{console.group(1)}/login", timeout=30) as page:
        assert page.status == 200 and b'name="api_key"' in page.read()
    assert served.stop() == 0, served.log.read_text()[-2000:]


def test_a_server_ends_when_the_test_process_that_started_it_is_killed():
    """The `serve` fixture starts servers in sessions of their own, out of reach of a killed
    test run's process group; `die_with_parent` makes them end with it all the same."""
    import os
    import sys
    import time
    from pathlib import Path

    from tests.conftest import ROOT

    code = (
        "import subprocess, time\n"
        "from tests.children import die_with_parent\n"
        "child = subprocess.Popen(['sleep', '300'], start_new_session=True,"
        " preexec_fn=die_with_parent)\n"
        "print(child.pid, flush=True)\n"
        "time.sleep(300)\n"
    )
    parent = subprocess.Popen(
        [sys.executable, "-c", code], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    child = int(parent.stdout.readline())
    parent.kill()
    parent.wait()

    def alive() -> bool:  # a zombie waiting for init counts as ended
        stat = Path(f"/proc/{child}/stat")
        return stat.exists() and stat.read_text().split(")")[-1].split()[0] != "Z"

    deadline = time.monotonic() + 10
    while alive() and time.monotonic() < deadline:
        time.sleep(0.05)
    if alive():
        os.kill(child, 9)
        raise AssertionError("the child outlived the killed process that started it")
