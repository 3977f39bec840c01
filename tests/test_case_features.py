"""`transform_features`: the fast path gives the fitted feature pipeline's own matrix."""

import numpy as np
import pytest
from sklearn.base import clone

from triage.cases.features import build_features, transform_features


@pytest.fixture(scope="module")
def fitted(small_cases):
    return build_features().fit(small_cases["text"].tolist())


@pytest.fixture(scope="module")
def texts(corpus):
    test = corpus[corpus["split"] == "test"]
    return test.groupby("language").head(20)["text"].tolist() + [
        "zzzz qqqq",  # no known term at all: an empty row
        "订单 ORDER 123-4567890-1234567 还没到",
        "ＡＳＩＮ：B0７XYZ 訂單  還沒到貨！",
    ]


def test_same_matrix_as_the_pipeline(fitted, texts):
    fast = transform_features(fitted, texts)
    slow = fitted.transform(texts)
    assert fast.shape == slow.shape and fast.dtype == slow.dtype
    assert np.array_equal(fast.indptr, slow.indptr)
    assert np.array_equal(fast.indices, slow.indices)
    assert np.allclose(fast.data, slow.data, atol=1e-6)


def test_empty_input_and_unknown_terms(fitted):
    assert transform_features(fitted, []).shape == (0, fitted.transform(["x"]).shape[1])
    assert transform_features(fitted, ["zzzz qqqq"]).nnz == fitted.transform(["zzzz qqqq"]).nnz


def test_unknown_pipeline_shape_falls_back(fitted, texts):
    weighted = clone(fitted).set_params(union__transformer_weights={"words": 2.0, "chars": 1.0})
    weighted.fit(texts)
    assert np.allclose(
        transform_features(weighted, texts).toarray(), weighted.transform(texts).toarray()
    )
