"""A process killed (SIGKILL) half-way through writing a registry version or registry.json leaves
the previous versions and the champion intact and loadable."""

import subprocess
import sys
import textwrap

import pytest

from tests.test_registry_faults import _assert_intact, _snapshot
from triage.registry import Registry

# A child process dies by SIGKILL at a chosen point of a registry write (no cleanup runs, as in
# a power cut or an OOM kill); the parent then checks what it left behind.
CRASH = textwrap.dedent(
    """
    import os, signal, sys
    import triage.registry as registry

    root, stage = sys.argv[1], sys.argv[2]

    def die(*args, **kwargs):
        os.kill(os.getpid(), signal.SIGKILL)

    if stage == "version-artifact":
        def dump(value, filename, **kwargs):
            with open(filename, "wb") as fh:
                fh.write(b"\\x80\\x04half")
                fh.flush()
            die()

        registry.joblib.dump = dump
        registry.Registry(root).create("cases", {"a": 1}, {})
    elif stage == "version-rename":
        registry.os.rename = die
        registry.Registry(root).create("cases", {"a": 1}, {})
    elif stage == "state-write":
        def dump(document, fh, **kwargs):
            fh.write('{"champion": "v1", "hist')
            fh.flush()
            die()

        registry.json.dump = dump
        registry.Registry(root).promote("cases", "v1")
    elif stage == "state-replace":
        registry.os.replace = die
        registry.Registry(root).promote("cases", "v1")
    raise SystemExit("the crash did not happen")
    """
)


@pytest.mark.parametrize(
    "stage", ("version-artifact", "version-rename", "state-write", "state-replace")
)
def test_a_crash_mid_write_leaves_the_previous_state_loadable(two_versions, tiny_model, stage):
    before = _snapshot(two_versions)
    stamp = Registry(two_versions).stamp("cases")
    child = subprocess.run(
        [sys.executable, "-c", CRASH, str(two_versions), stage],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert child.returncode == -9, child.stderr  # killed where intended
    _assert_intact(two_versions, before)
    assert Registry(two_versions).stamp("cases") == stamp
    # the registry keeps working after the crash: the leftovers are hidden and ignored
    registry = Registry(two_versions)
    version = registry.create("cases", tiny_model, {"kind": "case_classifier"})
    registry.promote("cases", version)
    assert registry.load("cases").version == version
    assert registry.rollback("cases") == "v2"
