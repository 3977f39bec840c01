import joblib
import numpy as np
import pytest
from sklearn.base import clone

from triage.cases.model import CaseClassifier
from triage.errors import InputError, NotFittedError


def test_tiny_model_learns_the_corpus(tiny_model, corpus):
    test = corpus[corpus["split"] == "test"]
    accuracy = (tiny_model.predict(test["text"].tolist()) == test["category"].to_numpy()).mean()
    assert accuracy > 0.6  # 24 examples per class; the full model is tested in test_default_model


def test_probabilities_are_normalized_and_ordered(tiny_model):
    proba = tiny_model.predict_proba(["还没到货", "I want my money back for the broken blender"])
    assert proba.shape == (2, len(tiny_model.classes_))
    assert np.allclose(proba.sum(axis=1), 1.0)
    assert list(tiny_model.classes_) == sorted(tiny_model.classes_)


def test_thresholds_and_needs_review(tiny_model):
    assert tiny_model.thresholds_.shape == (len(tiny_model.classes_),)
    assert ((tiny_model.thresholds_ > 0) & (tiny_model.thresholds_ <= 1)).all()
    proba = np.eye(len(tiny_model.classes_))[:2] * 0.05 + 0.01
    assert tiny_model.needs_review(proba).all()


def test_explanation_names_terms_of_the_text(tiny_model):
    text = "我的店铺账号因为迟发率超标被停用了，要写申诉"
    index = int(tiny_model.predict_proba([text]).argmax())
    terms = tiny_model.explain(text, index)
    assert terms and all(t["weight"] > 0 for t in terms)
    assert all(any(part in text for part in t["term"].split()) for t in terms)


def test_clone_and_joblib_round_trip(tiny_model, tmp_path):
    fresh = clone(tiny_model)
    assert not hasattr(fresh, "linear_") and fresh.get_params()["cv"] == 3
    joblib.dump(tiny_model, tmp_path / "m.joblib")
    loaded = joblib.load(tmp_path / "m.joblib")
    texts = ["退款还没到账", "where is my parcel"]
    assert np.allclose(loaded.predict_proba(texts), tiny_model.predict_proba(texts))


def test_not_fitted():
    with pytest.raises(NotFittedError):
        CaseClassifier().predict(["x"])
    with pytest.raises(ValueError):  # also the broad type, like scikit-learn's
        CaseClassifier().predict_proba(["x"])


@pytest.mark.parametrize(
    ("texts", "labels", "message"),
    (
        (["a b", "c d"], ["x", "x"], "at least two classes"),
        (["a b", "c d", "e f"], ["x", "y", "y"], "at least 2 examples"),
        (["a b", "  ", "e f", "g"], ["x", "x", "y", "y"], "empty"),
        (["a b"], ["x", "y"], "1 texts but 2 labels"),
    ),
)
def test_bad_training_data(texts, labels, message):
    with pytest.raises(InputError, match=message):
        CaseClassifier().fit(texts, labels)


def test_any_label_set_works():
    texts = [
        "card never arrived",
        "card still not here",
        "where is my card",
        "my card is late",
        "exchange rate was wrong",
        "bad exchange rate",
        "the rate you used is off",
        "fx rate too high",
    ]
    labels = ["card_arrival"] * 4 + ["exchange_rate"] * 4
    model = CaseClassifier(cv=2).fit(texts, labels)
    assert model.predict(["my new card has not arrived"])[0] == "card_arrival"
