"""Shared fixtures: small data and tiny models trained in temporary folders."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATASETS = ROOT.parent / "shared" / "datasets"


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep jieba's cache and any settings of the developer's environment out of the tests."""
    cache = tmp_path_factory.mktemp("cache")
    old = {
        k: os.environ.get(k) for k in ("TRIAGE_CACHE_DIR", "TRIAGE_MODELS_DIR", "TRIAGE_DATA_DIR")
    }
    os.environ["TRIAGE_CACHE_DIR"] = str(cache)
    os.environ.pop("TRIAGE_MODELS_DIR", None)
    os.environ.pop("TRIAGE_DATA_DIR", None)
    yield
    for key, value in old.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def corpus() -> pd.DataFrame:
    from triage.corpus import load_corpus

    return load_corpus(ROOT / "data" / "corpus")


@pytest.fixture(scope="session")
def small_cases(corpus) -> pd.DataFrame:
    """24 training rows per category from the corpus's train split, fixed sample."""
    train = corpus[corpus["split"] == "train"]
    sample = train.groupby("category").sample(24, random_state=0)
    return sample.reset_index(drop=True)[["text", "category", "language"]]


@pytest.fixture(scope="session")
def tiny_model(small_cases):
    """A CaseClassifier trained on `small_cases` (about a second)."""
    from triage.cases.model import CaseClassifier

    return CaseClassifier(cv=3).fit(small_cases["text"].tolist(), small_cases["category"].tolist())


def needs_datasets(*parts: str):
    """Skip with a clear message when ../shared/datasets (or a file in it) is absent."""
    path = DATASETS.joinpath(*parts)
    return pytest.mark.skipif(
        not path.exists(),
        reason=f"benchmark data not found at {path} (../shared/datasets is optional)",
    )
