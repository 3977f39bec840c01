"""The case classifier: features, model, calibration, thresholds, explanations, routing; and the
cases themselves: intake.py categorizes a text and makes its prediction-log record, store.py
keeps the cases opened from suggestions (``CaseRecord``, ``CaseStore``).

The names below are imported on first use (PEP 562), so that ``import triage.cases.commands``
(the ``triage`` command's help) does not load scikit-learn.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.lazy import lazy_exports

if TYPE_CHECKING:
    from triage.cases.model import CaseClassifier
    from triage.cases.router import CASE_MODEL_NAME, CasePrediction, CaseRouter

__all__ = ["CASE_MODEL_NAME", "CaseClassifier", "CasePrediction", "CaseRouter"]

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "CaseClassifier": "triage.cases.model",
        "CASE_MODEL_NAME": "triage.cases.router",
        "CasePrediction": "triage.cases.router",
        "CaseRouter": "triage.cases.router",
    },
)
