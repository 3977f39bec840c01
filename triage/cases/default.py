"""The default case model: trained on the seed corpus of data/, evaluated on its held-out split."""

from __future__ import annotations

from collections.abc import Callable

from triage.cases.router import CASE_MODEL_NAME
from triage.cases.training import (
    evaluate_case_model,
    fit_case_model,
    model_metadata,
    report_writer,
)
from triage.config import Settings
from triage.corpus import load_corpus
from triage.errors import ModelNotFoundError
from triage.registry import Registry
from triage.taxonomy import load_taxonomy

__all__ = ["ensure_default_case_model", "train_default_case_model"]


def train_default_case_model(
    settings: Settings, *, seed: int = 0, progress: Callable[[str], None] | None = None
) -> str:
    """Train on the corpus's train split, evaluate on its test split, register and promote."""
    taxonomy = load_taxonomy(settings.taxonomy_path)
    corpus = load_corpus(settings.corpus_dir, categories=set(taxonomy.ids))
    train = corpus[corpus["split"] == "train"]
    test = corpus[corpus["split"] == "test"]
    model = fit_case_model(
        train["text"].tolist(),
        train["category"].tolist(),
        seed=seed,
        target_precision=settings.target_precision,
        progress=progress,
    )
    # the order-aware part learns from held-out rows only (see triage.orders.linked)
    from triage.orders.linked import attach_order_stack

    with model.cached_embeddings():  # the held-out texts are scored twice: encoded once
        metrics, proba = evaluate_case_model(
            model, test["text"].tolist(), test["category"].tolist(), test["language"].tolist()
        )
        if progress:
            progress("fitting the order-aware part on order-linked cases")
        order_aware = attach_order_stack(model, test, settings.order_cases_dir, seed=seed)
    predicted = model.classes_[proba.argmax(axis=1)]
    metadata = model_metadata(
        model,
        train["text"].tolist(),
        train["category"].tolist(),
        metrics={
            "held_out": metrics,
            "cross_validation": model.cv_metrics_,
            "order_aware": order_aware,
        },
        source=f"seed corpus {settings.corpus_dir} (split=train)",
        seed=seed,
    )
    writer = report_writer(
        metrics,
        proba.max(axis=1),
        predicted == test["category"].to_numpy(),
        title="Default case model: held-out split of the seed corpus",
        notes=[
            f"Trained on {len(train)} rows (split=train), evaluated on {len(test)} rows (split=test)."
        ],
    )
    registry = Registry(settings.models_dir)
    version = registry.create(CASE_MODEL_NAME, model, metadata, writer)
    registry.promote(
        CASE_MODEL_NAME, version, reason="bootstrap: default model from the seed corpus"
    )
    return version


def ensure_default_case_model(
    settings: Settings, *, progress: Callable[[str], None] | None = None
) -> tuple[str, bool]:
    """The champion case model's version, training the default one first if there is none.

    Returns ``(version, trained)``. A champion that fails its integrity check is not replaced
    silently: the error propagates so that an operator can look at it.
    """
    registry = Registry(settings.models_dir)
    try:
        loaded = registry.load(CASE_MODEL_NAME)
    except ModelNotFoundError:
        return train_default_case_model(settings, progress=progress), True
    return loaded.version, False
