import json

import pytest

from triage.errors import IntegrityError, ModelError, ModelNotFoundError
from triage.registry import Registry, load_model_dir, save_model_dir


def test_model_dir_round_trip(tmp_path, tiny_model):
    meta = save_model_dir(tmp_path / "m", tiny_model, {"name": "m", "kind": "case_classifier"})
    assert len(meta["artifact"]["sha256"]) == 64 and "scikit-learn" in meta["libraries"]
    loaded = load_model_dir(tmp_path / "m")
    assert list(loaded.model.classes_) == list(tiny_model.classes_)


def test_refuses_to_overwrite(tmp_path, tiny_model):
    save_model_dir(tmp_path / "m", tiny_model, {})
    with pytest.raises(ValueError, match="already exists"):
        save_model_dir(tmp_path / "m", tiny_model, {})


def test_checksum_mismatch_is_refused(tmp_path, tiny_model):
    save_model_dir(tmp_path / "m", tiny_model, {})
    with (tmp_path / "m" / "model.joblib").open("ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(IntegrityError, match="SHA-256 does not match"):
        load_model_dir(tmp_path / "m")


def test_incompatible_library_is_refused(tmp_path, tiny_model):
    save_model_dir(tmp_path / "m", tiny_model, {})
    meta_path = tmp_path / "m" / "metadata.json"
    meta = json.loads(meta_path.read_text())
    meta["libraries"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta))
    with pytest.raises(IntegrityError, match="trained with scikit-learn 0.24.2"):
        load_model_dir(tmp_path / "m")


def test_failed_write_leaves_nothing(tmp_path, tiny_model):
    def boom(_):
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError):
        save_model_dir(tmp_path / "m", tiny_model, {}, write_extras=boom)
    assert list(tmp_path.iterdir()) == []


def test_promote_and_rollback(tmp_path, tiny_model):
    registry = Registry(tmp_path)
    with pytest.raises(ModelNotFoundError, match="no champion"):
        registry.load("cases")
    first = registry.create("cases", tiny_model, {"kind": "case_classifier"})
    second = registry.create("cases", tiny_model, {"kind": "case_classifier"})
    assert first != second
    registry.promote("cases", first)
    registry.promote("cases", second)
    assert registry.load("cases").version == second
    assert registry.rollback("cases") == first
    assert registry.load("cases").version == first
    statuses = {m["version"]: m["status"] for m in registry.versions("cases")}
    assert statuses == {first: "champion", second: "available"}


def test_rollback_without_history(tmp_path, tiny_model):
    registry = Registry(tmp_path)
    version = registry.create("cases", tiny_model, {})
    registry.promote("cases", version)
    with pytest.raises(ModelError, match="no earlier champion"):
        registry.rollback("cases")


def test_reject_records_reason(tmp_path, tiny_model):
    registry = Registry(tmp_path)
    version = registry.create("cases", tiny_model, {})
    registry.reject("cases", version, "macro-F1 dropped")
    assert registry.versions("cases")[0]["rejected_reason"] == "macro-F1 dropped"


@pytest.mark.parametrize("name", ("../evil", "a/b", "", ".hidden"))
def test_names_cannot_escape_the_root(tmp_path, name):
    with pytest.raises(ValueError, match="invalid model name"):
        Registry(tmp_path).versions(name)


def test_versions_cannot_escape(tmp_path, tiny_model):
    registry = Registry(tmp_path)
    registry.create("cases", tiny_model, {})
    with pytest.raises(ValueError, match="invalid version"):
        registry.path("cases", "../cases")


def test_versions_made_in_one_second_are_listed_in_the_order_they_were_made(tmp_path):
    registry = Registry(tmp_path)
    made = [registry.create("m", {"n": i}, {}) for i in range(12)]  # a few milliseconds
    assert len(set(made)) == 12
    assert [meta["version"] for meta in registry.versions("m")] == made


def test_a_model_pickled_before_the_orders_modules_moved_still_loads(tmp_path):
    """Artifacts name their classes' modules; triage/orders/baseline.py became
    triage/orders/risk/baseline.py (docs/ARCHITECTURE.md): the registry maps the old path."""
    import json
    import pickle
    import sys

    from triage.orders.risk.baseline import LogisticRiskModel
    from triage.registry import load_model_dir, save_model_dir, sha256_file

    folder = tmp_path / "m"
    save_model_dir(folder, LogisticRiskModel(), {"name": "risk", "version": "old"})
    # the artifact as an older release wrote it: the class under its old module path
    text = pickle.dumps(LogisticRiskModel(), protocol=0)
    old = text.replace(b"triage.orders.risk.baseline", b"triage.orders.baseline")
    assert old != text
    metadata = json.loads((folder / "metadata.json").read_text())
    artifact = folder / metadata["artifact"]["file"]
    artifact.write_bytes(old)
    metadata["artifact"]["sha256"] = sha256_file(artifact)
    (folder / "metadata.json").write_text(json.dumps(metadata))
    sys.modules.pop("triage.orders.baseline", None)
    assert isinstance(load_model_dir(folder).model, LogisticRiskModel)
