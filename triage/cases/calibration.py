"""Probability calibration and per-class review thresholds.

Scores of a linear model become probabilities by a softmax with one temperature, fitted on
out-of-fold scores by minimizing the negative log-likelihood (temperature scaling, Guo et al.
2017). Per-class thresholds are chosen on the same out-of-fold predictions: the lowest confidence
at which the predictions of that class still reach the target precision.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import log_softmax, softmax

__all__ = ["choose_thresholds", "expected_calibration_error", "fit_temperature", "scores_to_proba"]


def scores_to_proba(scores: np.ndarray, temperature: float) -> np.ndarray:
    """Softmax of `scores / temperature`, row-wise."""
    return softmax(np.asarray(scores, dtype=np.float64) / temperature, axis=1)


def fit_temperature(scores: np.ndarray, y_index: np.ndarray) -> float:
    """The temperature minimizing the mean negative log-likelihood of the true classes."""
    scores = np.asarray(scores, dtype=np.float64)
    rows = np.arange(len(y_index))

    def nll(log_t: float) -> float:
        return float(-log_softmax(scores / np.exp(log_t), axis=1)[rows, y_index].mean())

    result = minimize_scalar(nll, bounds=(-6.0, 4.0), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(
    confidence: np.ndarray, correct: np.ndarray, bins: int = 15
) -> float:
    """Expected calibration error of top-label confidences, over `bins` equal-width bins."""
    confidence = np.asarray(confidence, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if len(confidence) == 0:
        return float("nan")
    edges = np.linspace(0.0, 1.0, bins + 1)
    index = np.clip(np.digitize(confidence, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        mask = index == b
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def _threshold_for(confidence: np.ndarray, correct: np.ndarray, target: float) -> float | None:
    """Lowest confidence whose predictions at or above it reach `target` precision, else None."""
    order = np.argsort(-confidence, kind="stable")
    conf, ok = confidence[order], correct[order]
    precision = np.cumsum(ok) / np.arange(1, len(ok) + 1)
    # a cut may only fall between distinct confidence values
    last_of_value = np.append(conf[1:] != conf[:-1], True)
    good = np.flatnonzero((precision >= target) & last_of_value)
    return float(conf[good[-1]]) if len(good) else None


def choose_thresholds(
    proba: np.ndarray,
    y_index: np.ndarray,
    target: float = 0.9,
    min_support: int = 10,
) -> np.ndarray:
    """Per-class confidence thresholds holding precision at `target` on these predictions.

    A class with fewer than `min_support` predictions gets the threshold computed over all
    classes together; a class that never reaches the target gets 1.0 (always review).
    """
    pred = proba.argmax(axis=1)
    conf = proba.max(axis=1)
    correct = pred == y_index
    pooled = _threshold_for(conf, correct, target)
    pooled = 1.0 if pooled is None else pooled
    thresholds = np.full(proba.shape[1], pooled, dtype=np.float64)
    for c in range(proba.shape[1]):
        mask = pred == c
        if mask.sum() >= min_support:
            found = _threshold_for(conf[mask], correct[mask], target)
            thresholds[c] = 1.0 if found is None else found
    return thresholds
