"""Cases opened from suggestions, in the service database: `CaseRecord` and `CaseStore`.

A case is the text a filer filed for an order (the draft of an accepted suggestion, or the
filer's edit), the category of the suggestion, and what the case model predicted for the text
(also in the prediction log under `prediction_id`, so that analysts can correct it). The
``cases`` table is declared with the other tables in triage/store_tables.py (one metadata for
the migrations); this module is the only one that reads or writes it.

>>> cases = CaseStore(Store.from_settings(settings))     # doctest: +SKIP
>>> cases.for_orders(["A1", "B7"])                        # the orders among these with a case
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import sqlalchemy as sa

from triage.store import Store
from triage.store_tables import cases

__all__ = ["CaseRecord", "CaseStore"]

CHUNK = 500


@dataclass(frozen=True)
class CaseRecord:
    """A case opened from a suggestion: the text filed and what the case model made of it."""

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

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (times as ISO 8601)."""
        out = asdict(self)
        out["created_at"] = self.created_at.isoformat()
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

    def for_orders(self, order_ids: Iterable[str]) -> set[str]:
        """The ids among `order_ids` of orders that have a case."""
        wanted = sorted(set(order_ids))
        found: set[str] = set()
        with self.store.transaction() as conn:
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                query = sa.select(cases.c.order_id).where(cases.c.order_id.in_(chunk)).distinct()
                found.update(conn.execute(query).scalars())
        return found
