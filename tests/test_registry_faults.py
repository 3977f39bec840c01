"""Registry writes under faults: an exception or a crash half-way through writing a version or
registry.json leaves the previous versions and the champion intact and loadable (a crash, a
process killed mid-write: tests/system/test_registry_crash.py); a changed artifact or an
incompatible one is refused."""

import errno
import json
import os

import pytest

import triage.registry
from triage.errors import IntegrityError
from triage.registry import Registry, load_model_dir


def _snapshot(root):
    """Every file of the registry with its bytes (hidden leftovers apart)."""
    return {
        path.relative_to(root): path.read_bytes()
        for path in sorted(root.rglob("*"))
        if path.is_file() and not any(part.startswith(".") for part in path.relative_to(root).parts)
    }


def _assert_intact(root, before):
    registry = Registry(root)
    assert _snapshot(root) == before
    assert [m["version"] for m in registry.versions("cases")] == ["v1", "v2"]
    assert registry.load("cases").version == "v2"
    assert registry.load("cases", "v1").version == "v1"


def _no_partial_files(root):
    return [
        p.name
        for p in (root / "cases").iterdir()
        if ".tmp-" in p.name or ".registry.json." in p.name
    ]


def _disk_full(*args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device")


def _half_then_disk_full(value, filename, **kwargs):
    with open(filename, "wb") as fh:
        fh.write(b"\x80\x04half a pickle")
    raise OSError(errno.ENOSPC, "No space left on device")


@pytest.mark.parametrize("stage", ("artifact", "report", "metadata", "rename"))
def test_a_failed_version_write_leaves_the_registry_as_it_was(
    two_versions, tiny_model, monkeypatch, stage
):
    before = _snapshot(two_versions)
    extras = None
    if stage == "artifact":
        monkeypatch.setattr(triage.registry.joblib, "dump", _half_then_disk_full)
    elif stage == "report":

        def extras(folder):
            (folder / "report.md").write_text("# half a rep", encoding="utf-8")
            raise OSError(errno.ENOSPC, "No space left on device")

    elif stage == "metadata":
        monkeypatch.setattr(triage.registry, "_write_json_atomic", _disk_full)
    else:
        monkeypatch.setattr(triage.registry.os, "rename", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        Registry(two_versions).create("cases", tiny_model, {"kind": "case_classifier"}, extras)
    monkeypatch.undo()
    _assert_intact(two_versions, before)
    assert _no_partial_files(two_versions) == []


@pytest.mark.parametrize("stage", ("write", "replace"))
def test_a_failed_state_write_keeps_the_champion(two_versions, monkeypatch, stage):
    before = _snapshot(two_versions)
    stamp = Registry(two_versions).stamp("cases")
    if stage == "write":

        def dump(document, fh, **kwargs):
            fh.write('{"champion": "v1", "hist')
            raise OSError(errno.ENOSPC, "No space left on device")

        monkeypatch.setattr(triage.registry.json, "dump", dump)
    else:
        monkeypatch.setattr(triage.registry.os, "replace", _disk_full)
    with pytest.raises(OSError, match="No space left"):
        Registry(two_versions).promote("cases", "v1")
    with pytest.raises(OSError, match="No space left"):
        Registry(two_versions).rollback("cases")
    monkeypatch.undo()
    _assert_intact(two_versions, before)
    assert _no_partial_files(two_versions) == []
    assert Registry(two_versions).stamp("cases") == stamp  # a server sees no change


def test_checksum_mismatch_is_refused_and_the_champion_stays(two_versions):
    artifact = two_versions / "cases" / "v1" / "model.joblib"
    artifact.write_bytes(artifact.read_bytes()[:-16] + b"\0" * 16)  # same size, other bytes
    registry = Registry(two_versions)
    with pytest.raises(IntegrityError, match="SHA-256 does not match"):
        registry.load("cases", "v1")
    with pytest.raises(IntegrityError, match="SHA-256 does not match"):
        registry.promote("cases", "v1")
    with pytest.raises(IntegrityError, match="SHA-256 does not match"):
        registry.rollback("cases")  # v1 is the champion before v2
    assert registry.champion("cases") == "v2"
    assert registry.load("cases").version == "v2"
    assert [e["version"] for e in registry.state("cases")["history"]] == ["v1", "v2"]


def test_incompatible_libraries_are_refused_with_the_reason(two_versions):
    meta_path = two_versions / "cases" / "v1" / "metadata.json"
    meta = json.loads(meta_path.read_text(encoding="utf-8"))
    meta["libraries"]["numpy"] = "1.19.5"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    registry = Registry(two_versions)
    with pytest.raises(IntegrityError, match=r"trained with numpy 1\.19\.5 \(now .*\); retrain"):
        registry.promote("cases", "v1")
    assert registry.load("cases").version == "v2"


def test_a_missing_artifact_is_refused(two_versions):
    os.unlink(two_versions / "cases" / "v1" / "model.joblib")
    with pytest.raises(IntegrityError, match="artifact model.joblib is missing"):
        load_model_dir(two_versions / "cases" / "v1")
    with pytest.raises(IntegrityError, match="is missing"):
        Registry(two_versions).promote("cases", "v1")
    assert Registry(two_versions).champion("cases") == "v2"


def test_stamp_changes_with_every_state_write(two_versions):
    registry = Registry(two_versions)
    stamps = [registry.stamp("cases")]
    registry.promote("cases", "v1")
    stamps.append(registry.stamp("cases"))
    registry.reject("cases", "v2", "worse")
    stamps.append(registry.stamp("cases"))
    registry.rollback("cases")
    stamps.append(registry.stamp("cases"))
    assert None not in stamps and len(set(stamps)) == 4
    assert registry.stamp("nothing-here") is None
