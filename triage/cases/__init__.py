"""The case classifier: features, model, calibration, thresholds, explanations, routing."""

from __future__ import annotations

from triage.cases.model import CaseClassifier
from triage.cases.router import CASE_MODEL_NAME, CasePrediction, CaseRouter

__all__ = ["CASE_MODEL_NAME", "CaseClassifier", "CasePrediction", "CaseRouter"]
