"""Training, evaluation and saving of case models, for the CLI, the bootstrap and the jobs."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from triage.cases.model import CaseClassifier
from triage.evaluation import (
    evaluate_case_predictions,
    plot_confusion_matrix,
    plot_reliability,
    write_case_report,
)
from triage.monitoring import reference_profile
from triage.text.language import detect_language

__all__ = [
    "data_hash",
    "evaluate_case_model",
    "fit_case_model",
    "model_metadata",
    "report_writer",
]


def data_hash(texts: Sequence[str], labels: Sequence[str]) -> str:
    """SHA-256 of the training data as (text, label) pairs in order: the data snapshot id."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels, strict=True):
        digest.update(json.dumps([text, str(label)], ensure_ascii=False).encode("utf-8"))
        digest.update(b"\n")
    return digest.hexdigest()


def fit_case_model(
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    seed: int = 0,
    target_precision: float = 0.9,
    params: dict[str, Any] | None = None,
    progress: Callable[[str], None] | None = None,
) -> CaseClassifier:
    """Fit a `CaseClassifier` with the project defaults, overridable by `params`."""
    model = CaseClassifier(random_state=seed, target_precision=target_precision, **(params or {}))
    return model.fit(list(texts), list(labels), progress=progress)


def evaluate_case_model(
    model: CaseClassifier,
    texts: Sequence[str],
    labels: Sequence[str],
    languages: Sequence[str] | None = None,
) -> tuple[dict, np.ndarray]:
    """Metrics of `model` on labelled texts, and the probabilities they came from.

    Language slices use `languages` when given, else the detected language of each text.
    """
    texts = list(texts)
    proba = model.predict_proba(texts)
    if languages is None:
        languages = [detect_language(t) for t in texts]
    metrics = evaluate_case_predictions(
        labels,
        proba,
        model.classes_,
        model.thresholds_,
        languages=languages,
        target_precision=model.target_precision,
    )
    return metrics, proba


def model_metadata(
    model: CaseClassifier,
    texts: Sequence[str],
    labels: Sequence[str],
    *,
    metrics: dict,
    source: str,
    seed: int,
) -> dict:
    """metadata.json content of a case model (the registry adds versions and checksums)."""
    counts = pd.Series(list(labels)).astype(str).value_counts().sort_index()
    return {
        "kind": "case_classifier",
        "classes": [str(c) for c in model.classes_],
        "params": {
            k: (list(v) if isinstance(v, tuple) else v)
            for k, v in model.get_params().items()
            if k != "tokenizer"
        },
        "seed": seed,
        "data": {
            "source": source,
            "sha256": data_hash(texts, labels),
            "n": len(texts),
            "per_class": {str(k): int(v) for k, v in counts.items()},
        },
        "thresholds": {
            str(c): round(float(t), 4)
            for c, t in zip(model.classes_, model.thresholds_, strict=True)
        },
        "temperature": round(float(model.temperature_), 4),
        "metrics": metrics,
        # what the model saw at training time, for drift monitoring of the prediction log
        "reference": reference_profile(
            list(texts),
            model.classes_[model.oof_proba_.argmax(axis=1)].tolist(),
            model.oof_proba_.max(axis=1).tolist(),
            model.classes_,
        ),
    }


def report_writer(
    metrics: dict,
    confidence: np.ndarray,
    correct: np.ndarray,
    *,
    title: str,
    notes: Sequence[str] = (),
) -> Callable[[Path], None]:
    """A callback that writes report.md, confusion_matrix.png and reliability.png into a folder."""

    def write(directory: Path) -> None:
        plot_confusion_matrix(metrics, directory / "confusion_matrix.png")
        plot_reliability(confidence, correct, directory / "reliability.png")
        write_case_report(metrics, directory, title=title, notes=notes)

    return write
