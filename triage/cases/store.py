"""Cases of stored orders, in the service database: `CaseRecord` and `CaseStore`.

A case is the text a filer filed for an order: through ``POST /v1/cases/categorize`` (origin
``filed``), or by accepting a suggestion (origin ``suggestion``: its draft or the filer's edit).
It keeps its category (the suggestion's, or the order-aware prediction of a filed case), what
the case model predicted for the text with the order and without it, and the prediction-log id
(`prediction_id`) analysts correct. A case is ``open`` until resolved; an order has at most one
open case (a partial unique index, as for open suggestions). The ``cases`` table is declared
with the other tables in triage/store_tables.py; this module is the only one that reads or
writes it.

>>> cases = CaseStore(Store.from_settings(settings))     # doctest: +SKIP
>>> cases.for_orders(["A1", "B7"])                        # the orders among these with a case
>>> cases.resolve("case_0123456789abcdef")                # open -> resolved
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from triage.errors import ConflictError, InputError, NotFoundError
from triage.store import Store
from triage.store_tables import cases, utcnow

if TYPE_CHECKING:
    from triage.cases.intake import Categorized

__all__ = ["CASE_ORIGINS", "CASE_STATUSES", "CaseRecord", "CaseStore"]

CHUNK = 500
#: filed: through categorize, by the filer; suggestion: by accepting a suggested case
CASE_ORIGINS = ("filed", "suggestion")
CASE_STATUSES = ("open", "resolved")


@dataclass(frozen=True)
class CaseRecord:
    """A case of a stored order: the text filed and what the case model made of it."""

    id: str
    order_id: str
    category: str
    text: str
    language: str
    created_at: dt.datetime
    suggestion_id: str | None
    predicted_category: str
    confidence: float
    needs_review: bool
    model_name: str
    model_version: str
    prediction_id: str | None = None
    key_id: str | None = None
    origin: str = "suggestion"
    status: str = "open"
    resolved_at: dt.datetime | None = None
    text_category: str | None = None
    filer_role: str | None = None

    @classmethod
    def categorized(
        cls,
        done: Categorized,
        *,
        order_id: str,
        text: str,
        now: dt.datetime,
        origin: str,
        category: str | None = None,
        case_id: str | None = None,
        **fields: Any,
    ) -> CaseRecord:
        """A case of `order_id` with `text`, categorized as `done` (intake's `Categorized`):
        its category is the prediction's unless given (a suggestion's), the text-only category
        the prediction's own when it had no order."""
        prediction = done.prediction
        return cls(
            id=case_id or f"case_{uuid.uuid4().hex[:16]}",
            order_id=order_id,
            category=category or prediction.category,
            text=text,
            language=fields.pop("language", None) or prediction.language,
            created_at=now,
            suggestion_id=fields.pop("suggestion_id", None),
            predicted_category=prediction.category,
            confidence=prediction.confidence,
            needs_review=prediction.needs_review,
            model_name=prediction.model["name"],
            model_version=prediction.model["version"],
            prediction_id=done.record.id,
            key_id=fields.pop("key_id", done.record.key_id),
            origin=origin,
            text_category=(prediction.text_only or {}).get("category", prediction.category),
            **fields,
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
        out["resolved_at"] = self.resolved_at.isoformat() if self.resolved_at else None
        return out


class CaseStore:
    """The ``cases`` table of the service database."""

    def __init__(self, store: Store):
        self.store = store

    @staticmethod
    def insert(conn: Any, case: CaseRecord) -> None:
        """Write `case` in the caller's transaction (accepting a suggestion writes its case and
        marks it accepted at once)."""
        conn.execute(cases.insert(), asdict(case))

    def get(self, case_id: str) -> CaseRecord | None:
        with self.store.transaction() as conn:
            row = conn.execute(sa.select(cases).where(cases.c.id == case_id)).first()
        return CaseRecord(**row._asdict()) if row is not None else None

    @staticmethod
    def open_case(conn: Any, order_id: str) -> CaseRecord | None:
        """The open case of `order_id`, in the caller's transaction."""
        row = conn.execute(
            sa.select(cases).where(cases.c.order_id == order_id, cases.c.status == "open")
        ).first()
        return CaseRecord(**row._asdict()) if row is not None else None

    def list(
        self,
        *,
        status: str | None = None,
        origin: str | None = None,
        order_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CaseRecord]:
        """Cases newest first, optionally of one status, origin and order."""
        if status is not None and status not in CASE_STATUSES:
            raise InputError(f"status must be one of {', '.join(CASE_STATUSES)}")
        if origin is not None and origin not in CASE_ORIGINS:
            raise InputError(f"origin must be one of {', '.join(CASE_ORIGINS)}")
        query = sa.select(cases).order_by(cases.c.created_at.desc(), cases.c.id)
        for column, value in (("status", status), ("origin", origin), ("order_id", order_id)):
            if value is not None:
                query = query.where(cases.c[column] == value)
        with self.store.transaction() as conn:
            rows = conn.execute(query.limit(limit).offset(offset)).all()
        return [CaseRecord(**row._asdict()) for row in rows]

    def resolve(self, case_id: str, now: dt.datetime | None = None) -> CaseRecord:
        """Resolve an open case; `NotFoundError` for an unknown one, `ConflictError` for one
        resolved already. Its order may get a new case (and suggestions) afterwards."""
        now = now or utcnow()
        with self.store.transaction(write=True) as conn:
            done = conn.execute(
                cases.update()
                .where(cases.c.id == case_id, cases.c.status == "open")
                .values(status="resolved", resolved_at=now)
            )
            if done.rowcount != 1:
                status = conn.execute(
                    sa.select(cases.c.status).where(cases.c.id == case_id)
                ).scalar_one_or_none()
                if status is None:
                    raise NotFoundError(f"no case {case_id}")
                raise ConflictError(f"case {case_id} is already {status}")
        found = self.get(case_id)
        assert found is not None  # cases are never deleted
        return found

    def for_orders(self, order_ids: Iterable[str]) -> set[str]:
        """The ids among `order_ids` of orders that have an open case (no suggestion for them)."""
        wanted = sorted(set(order_ids))
        found: set[str] = set()
        with self.store.transaction() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                query = (
                    sa.select(cases.c.order_id)
                    .where(cases.c.order_id.in_(chunk), cases.c.status == "open")
                    .distinct()
                )
                found.update(conn.execute(query).scalars())
        return found
