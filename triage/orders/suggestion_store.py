"""Suggestions in the service database (the cases accepted from them: triage.cases.store).

`DatabaseSuggestionStore` implements the `SuggestionStore` protocol of
triage.orders.suggestions.policy (add, get, for_order, list, update) on the ``suggestions`` table, so
that `SuggestionPolicy` works on it unchanged, and adds what a shared database needs:

- at most one open suggestion per order holds across workers: a partial unique index refuses a
  second one, and `add` raises `ConflictError` for it (the policy's own check runs first; the
  index settles the race of two workers scoring the same order at once);
- a decision is final (triage.orders.suggestions.lifecycle): `update` only changes an open suggestion (or
  saves the same status again), a conditional update, so two workers deciding at once cannot
  both win (`ConflictError` for the loser);
- `accept` marks the suggestion accepted and writes its case (triage.cases.store) and the case
  model's prediction to the prediction log in one transaction: there is never a case without its accepted
  suggestion, nor the reverse.

The service also closes suggestions itself: `open_orders` finds the orders with an open one,
`close` marks them ``resolved`` or ``expired`` when their order is no longer open.

>>> suggestions = DatabaseSuggestionStore(Store.from_settings(settings))   # doctest: +SKIP
>>> SuggestionPolicy(0.4).suggest(scores, suggestions, has_case=CaseStore(store).for_orders(ids))
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlalchemy import exc

from triage.cases.store import CaseRecord, CaseStore
from triage.errors import ConflictError
from triage.orders.suggestions.lifecycle import OPEN, check_closing, check_status, refuse
from triage.orders.suggestions.policy import Suggestion
from triage.store import PredictionRecord, Store
from triage.store_tables import INSERT_PREDICTIONS, suggestions

__all__ = ["DatabaseSuggestionStore"]

CHUNK = 500


def _row(suggestion: Suggestion) -> dict[str, Any]:
    return {
        "id": suggestion.suggestion_id,
        "order_id": suggestion.order_id,
        "risk": float(suggestion.risk),
        "category": suggestion.category,
        "reasons": suggestion.reasons,
        "draft_zh": suggestion.draft_zh,
        "draft_en": suggestion.draft_en,
        "created_at": suggestion.created_at,
        "status": suggestion.status,
        "decided_at": suggestion.decided_at,
        "case_id": suggestion.case_id,
        "facts": suggestion.facts,
        "model": suggestion.model,
    }


def _suggestion(row: Any) -> Suggestion:
    values = row._asdict()
    return Suggestion(suggestion_id=values.pop("id"), **values)


class DatabaseSuggestionStore:
    """`SuggestionStore` on the service database (see the module docstring)."""

    def __init__(self, store: Store):
        self.store = store

    # -- the SuggestionStore protocol ---------------------------------------------------
    def add(self, suggestion: Suggestion) -> None:
        """Save a new suggestion; `ConflictError` when its id exists or its order already has
        an open suggestion."""
        with self.store.transaction(write=True) as conn:
            try:
                conn.execute(suggestions.insert(), _row(suggestion))
            except exc.IntegrityError:
                raise ConflictError(
                    f"suggestion {suggestion.suggestion_id} not stored: it exists already, "
                    f"or order {suggestion.order_id} has an open suggestion"
                ) from None

    def get(self, suggestion_id: str) -> Suggestion | None:
        with self.store.transaction() as conn:
            row = conn.execute(
                sa.select(suggestions).where(suggestions.c.id == suggestion_id)
            ).first()
        return _suggestion(row) if row is not None else None

    def for_order(self, order_id: str) -> list[Suggestion]:
        """The order's suggestions, oldest first."""
        query = (
            sa.select(suggestions)
            .where(suggestions.c.order_id == order_id)
            .order_by(suggestions.c.created_at, suggestions.c.id)
        )
        with self.store.transaction() as conn:
            return [_suggestion(row) for row in conn.execute(query)]

    def list(
        self,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
        order_id: str | None = None,
        by_risk: bool = False,
    ) -> list[Suggestion]:
        """Newest first (the riskiest first among those made at the same time), or with
        `by_risk` the riskiest first; optionally only of one status and of one order."""
        check_status(status)
        order = (
            (suggestions.c.risk.desc(), suggestions.c.created_at.desc(), suggestions.c.id)
            if by_risk
            else (suggestions.c.created_at.desc(), suggestions.c.risk.desc(), suggestions.c.id)
        )
        query = sa.select(suggestions).order_by(*order)
        if status is not None:
            query = query.where(suggestions.c.status == status)
        if order_id is not None:
            query = query.where(suggestions.c.order_id == order_id)
        with self.store.transaction() as conn:
            return [_suggestion(row) for row in conn.execute(query.limit(limit).offset(offset))]

    def update(self, suggestion: Suggestion) -> None:
        """Save a decision. Only an open suggestion changes (saving the same status again is
        allowed): `ConflictError` when it was decided otherwise meanwhile."""
        check_status(suggestion.status)
        with self.store.transaction(write=True) as conn:
            result = conn.execute(
                suggestions.update()
                .where(
                    suggestions.c.id == suggestion.suggestion_id,
                    suggestions.c.status.in_([OPEN, suggestion.status]),
                )
                .values(
                    status=suggestion.status,
                    decided_at=suggestion.decided_at,
                    case_id=suggestion.case_id,
                )
            )
            if result.rowcount != 1:
                self._refuse(conn, suggestion.suggestion_id)

    @staticmethod
    def _refuse(conn: Any, suggestion_id: str) -> None:
        status = conn.execute(
            sa.select(suggestions.c.status).where(suggestions.c.id == suggestion_id)
        ).scalar_one_or_none()
        refuse(suggestion_id, status)

    def open_orders(self, order_ids: Iterable[str] | None = None) -> set[str]:
        """The ids among `order_ids` (all orders when None) that have an open suggestion."""
        query = sa.select(suggestions.c.order_id).where(suggestions.c.status == OPEN)
        with self.store.transaction() as conn:
            if order_ids is None:
                return set(conn.execute(query).scalars())
            wanted, found = sorted(set(order_ids)), set()
            for start in range(0, len(wanted), CHUNK):
                chunk = wanted[start : start + CHUNK]
                found.update(conn.execute(query.where(suggestions.c.order_id.in_(chunk))).scalars())
            return found

    def close(self, order_ids: Iterable[str], status: str, now: dt.datetime) -> list[Suggestion]:
        """Close the open suggestions of these orders as `status` (resolved or expired) at
        `now`; returns the suggestions closed. Decided suggestions stay as they are."""
        check_closing(status)
        wanted, closed = sorted(set(order_ids)), []
        if not wanted:
            return closed
        with self.store.transaction(write=True) as conn:
            for start in range(0, len(wanted), CHUNK):
                where = (
                    suggestions.c.order_id.in_(wanted[start : start + CHUNK]),
                    suggestions.c.status == OPEN,
                )
                ids = list(conn.execute(sa.select(suggestions.c.id).where(*where)).scalars())
                if not ids:
                    continue
                conn.execute(
                    suggestions.update()
                    .where(suggestions.c.id.in_(ids), suggestions.c.status == OPEN)
                    .values(status=status, decided_at=now)
                )
                query = sa.select(suggestions).where(suggestions.c.id.in_(ids))
                closed += [_suggestion(row) for row in conn.execute(query)]
        return closed

    # -- accepting ----------------------------------------------------------------------
    def accept(
        self,
        suggestion_id: str,
        case: CaseRecord,
        prediction: PredictionRecord | None = None,
    ) -> Suggestion:
        """Mark the open suggestion accepted with `case` (created now, same transaction) and
        log the case model's `prediction`; `NotFoundError` / `ConflictError` otherwise (also
        when the order has an open case already: one order, one case)."""
        try:
            with self.store.transaction(write=True) as conn:
                result = conn.execute(
                    suggestions.update()
                    .where(suggestions.c.id == suggestion_id, suggestions.c.status == OPEN)
                    .values(status="accepted", decided_at=case.created_at, case_id=case.id)
                )
                if result.rowcount != 1:
                    self._refuse(conn, suggestion_id)
                if prediction is not None:
                    conn.execute(INSERT_PREDICTIONS, [prediction.__dict__])
                CaseStore.insert(conn, case)
        except exc.IntegrityError:
            raise ConflictError(
                f"order {case.order_id} has an open case already; suggestion {suggestion_id} "
                "stays open"
            ) from None
        accepted = self.get(suggestion_id)
        assert accepted is not None  # written just above; suggestions are never deleted
        return accepted
