"""Categorize case texts and make their prediction-log records: the one flow behind
``POST /v1/cases/categorize`` and accepting a suggested case.

    >>> done = categorize(router, [CaseText("my parcel is late", order_id="A1")], key_id=k)
    >>> store.log_predictions([c.record for c in done])   # doctest: +SKIP

The record holds the text redacted (triage.text.entities.redact) and the prediction's category,
confidence and model, under a fresh ``prediction_id`` that ``POST /v1/feedback`` can correct.
Writing the records is the caller's: the categorize endpoint logs them on their own (and may
answer without the log when the database is down), accepting a suggestion writes its record in
the transaction that opens the case.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from triage.cases.order_aware import LinkedOrder
from triage.store import PredictionRecord
from triage.store_tables import utcnow
from triage.text.entities import redact

if TYPE_CHECKING:
    from triage.cases.router import CasePrediction, CaseRouter

__all__ = ["CaseText", "Categorized", "categorize"]


@dataclass(frozen=True)
class CaseText:
    """A case text to categorize, with what the filer told about it."""

    text: str
    language: str | None = None  # forced; detected when None
    role: str | None = None  # buyer or seller
    order_id: str | None = None
    order: LinkedOrder | None = None  # the stored order it names, when the service knows it


@dataclass(frozen=True)
class Categorized:
    """The case model's prediction for one text, and its prediction-log record."""

    prediction: CasePrediction
    record: PredictionRecord


def categorize(
    router: CaseRouter,
    cases: Sequence[CaseText],
    *,
    key_id: str | None = None,
    request_id: str | None = None,
    now: dt.datetime | None = None,
) -> list[Categorized]:
    """Categorize `cases` in one batch and make each one's prediction-log record (not written)."""
    languages = [case.language for case in cases]
    orders = [case.order for case in cases]
    predictions = router.predict(
        [case.text for case in cases],
        languages if any(languages) else None,
        orders if any(orders) else None,
    )
    now = now or utcnow()
    return [
        Categorized(
            prediction,
            PredictionRecord(
                id=str(uuid.uuid4()),
                created_at=now,
                text=redact(case.text),
                language=prediction.language,
                category=prediction.category,
                confidence=prediction.confidence,
                needs_review=prediction.needs_review,
                model_name=prediction.model["name"],
                model_version=prediction.model["version"],
                filer_role=case.role,
                order_id=case.order_id,
                key_id=key_id,
                request_id=request_id,
            ),
        )
        for case, prediction in zip(cases, predictions, strict=True)
    ]
