"""Hot reload: a worker serves a new champion after a promotion or rollback without a restart,
never fails a request meanwhile, and keeps the last good model when the new one is refused."""

import gc
import json
import logging

import pytest

from api.serving import ModelSet
from tests.conftest import wait_for
from triage.config import Settings
from triage.registry import Registry
from triage.taxonomy import load_taxonomy

#: v1 (tiny_model) says not_received, v2 (relabeled_model) cannot: answers tell versions apart
PROBE = "买家说包裹显示已签收但是一直没收到 the buyer never received the parcel"


def _models(root, **settings) -> ModelSet:
    models = ModelSet(Settings.from_env({"models_dir": root, **settings}), load_taxonomy())
    models.load()
    return models


def _category(models: ModelSet) -> str:
    return models.case_router().predict([PROBE])[0].category


def test_refresh_follows_promotion_and_rollback(two_versions):
    models = _models(two_versions)
    registry = Registry(two_versions)
    assert models.status() == {"cases": {"version": "v2"}}
    assert _category(models) == "shipping_delay"
    assert models.refresh() == []  # nothing changed: nothing loaded

    registry.promote("cases", "v1")
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v1"}}
    assert _category(models) == "not_received"

    registry.rollback("cases")
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v2"}}
    assert _category(models) == "shipping_delay"


def test_a_state_change_that_keeps_the_champion_loads_nothing(two_versions):
    models = _models(two_versions)
    served = models.case_router()
    Registry(two_versions).reject("cases", "v1", "worse on the frozen set")
    assert models.refresh() == []
    assert models.case_router() is served


def _break(root, version, fault):
    folder = root / "cases" / version
    if fault == "checksum":
        artifact = folder / "model.joblib"
        original = artifact.read_bytes()
        artifact.write_bytes(original[:-8] + b"\0" * 8)
        return lambda: artifact.write_bytes(original)
    meta_path = folder / "metadata.json"
    original = meta_path.read_text(encoding="utf-8")
    meta = json.loads(original)
    meta["libraries"]["scikit-learn"] = "0.24.2"
    meta_path.write_text(json.dumps(meta), encoding="utf-8")
    return lambda: meta_path.write_text(original, encoding="utf-8")


@pytest.mark.parametrize(
    ("fault", "message"),
    (("checksum", "SHA-256 does not match"), ("libraries", "trained with scikit-learn 0.24.2")),
)
def test_a_champion_that_fails_to_load_leaves_the_last_good_one_serving(
    make_app, two_versions, caplog, fault, message
):
    models = _models(two_versions)
    models.retry_seconds = 3600.0
    served = models.case_router()
    registry = Registry(two_versions)
    registry.promote("cases", "v1")  # checked and promoted, then the files go bad
    repair = _break(two_versions, "v1", fault)

    with caplog.at_level(logging.ERROR, logger="triage.api"):
        assert models.refresh() == ["cases"]
    assert models.case_router() is served and _category(models) == "shipping_delay"
    status = models.status()["cases"]
    assert status["version"] == "v2" and status["champion"] == "v1"
    assert message in status["reload_error"]
    assert "champion v1 not loaded, still serving v2" in caplog.text and message in caplog.text
    assert models.refresh() == []  # no retry storm: the next retry waits for retry_seconds

    # /readyz stays ready (the old model serves) and says what failed
    app = make_app(models_dir=two_versions)
    app.extensions["triage"].models = models
    body = app.test_client().get("/readyz").get_json()
    assert body["status"] == "ready" and body["models"]["cases"] == status

    repair()
    models.retry_seconds = 0.0
    assert models.refresh() == ["cases"]
    assert models.status() == {"cases": {"version": "v1"}}
    assert _category(models) == "not_received"


def test_rolling_back_to_the_served_version_clears_the_error_without_a_load(two_versions):
    models = _models(two_versions)
    served = models.case_router()
    registry = Registry(two_versions)
    registry.promote("cases", "v1")
    _break(two_versions, "v1", "checksum")
    models.refresh()
    assert "reload_error" in models.status()["cases"]
    (two_versions / "cases" / "registry.json").write_text(
        json.dumps({**registry.state("cases"), "champion": "v2"}), encoding="utf-8"
    )
    assert models.refresh() == []
    assert models.status() == {"cases": {"version": "v2"}} and models.case_router() is served


def test_an_unreadable_registry_state_keeps_the_model(two_versions):
    models = _models(two_versions)
    models.retry_seconds = 3600.0
    (two_versions / "cases" / "registry.json").write_text("{not json", encoding="utf-8")
    assert models.refresh() == ["cases"]
    status = models.status()["cases"]
    assert status["version"] == "v2" and "unreadable registry state" in status["reload_error"]
    assert models.ready


def test_a_worker_started_before_any_champion_becomes_ready_after_the_first(tmp_path, two_versions):
    empty = tmp_path / "empty-registry"
    models = _models(empty)
    assert not models.ready and "no champion" in models.status()["cases"]["error"]
    (empty / "cases").mkdir(parents=True)
    import shutil

    shutil.copytree(two_versions / "cases" / "v1", empty / "cases" / "v1")
    Registry(empty).promote("cases", "v1")
    assert models.refresh() == ["cases"]
    assert models.ready and models.status() == {"cases": {"version": "v1"}}


def test_the_watcher_thread_reloads_and_stops(two_versions):
    models = _models(two_versions)
    models.watch(0.05)
    thread = models._watcher
    assert thread.is_alive() and thread.daemon
    try:
        Registry(two_versions).promote("cases", "v1")
        assert wait_for(lambda: models.status()["cases"].get("version") == "v1", 30, 0.02)
        Registry(two_versions).rollback("cases")
        assert wait_for(lambda: models.status()["cases"].get("version") == "v2", 30, 0.02)
    finally:
        models.stop()
    assert not thread.is_alive()


def test_the_watcher_ends_with_its_model_set(two_versions):
    models = _models(two_versions)
    models.watch(0.01)
    thread = models._watcher
    del models
    gc.collect()
    thread.join(10)
    assert not thread.is_alive()
