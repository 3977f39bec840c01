"""Proactive "open a case?" suggestions: the policy, the suggestion record and its store.

The policy turns risk scores into suggestions under four rules:

1. the risk reaches the threshold (chosen at training time for a target precision);
2. no case exists for the order (``has_case(order_id)``);
3. at most one open suggestion per order (an accepted one also blocks: its case exists);
4. after a dismissal, nothing new for the order during the cooldown.

A suggestion whose order is delivered or canceled is closed as ``resolved``, one whose order
went more than 30 days past its promise as ``expired`` (`triage.orders.suggestions.lifecycle.settle` does it
after every scoring); neither blocks a later suggestion. Which status a suggestion may take, and
when, is decided in one place: triage/orders/suggestions/lifecycle.py.

Suggestions live behind the small `SuggestionStore` protocol. `InMemorySuggestionStore` serves
``triage score-orders --no-store`` and the tests; `DatabaseSuggestionStore`
(triage/orders/suggestion_store.py) implements the same methods on the service database::

    add(suggestion)                     save a new suggestion
    get(suggestion_id)                  one suggestion or None
    for_order(order_id)                 the order's suggestions, oldest first
    list(status=None, limit, offset)    newest first
    update(suggestion)                  save a decided suggestion (accept, dismiss)
    open_orders(order_ids=None)         the orders among these with an open suggestion
    close(order_ids, status, now)       close their open suggestions (resolved, expired)

A decision is final: accepting or dismissing a decided suggestion raises `ConflictError`.

>>> store = InMemorySuggestionStore()
>>> policy = SuggestionPolicy(threshold=0.6)
>>> made = policy.suggest(scores, store, has_case=lambda order_id: False)   # doctest: +SKIP
>>> policy.dismiss(store, made[0].suggestion_id)                            # doctest: +SKIP
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable, Container, Iterable
from dataclasses import asdict, dataclass, field
from typing import Protocol, runtime_checkable

from triage.errors import InputError, NotFoundError
from triage.orders.risk.scoring import RiskScore
from triage.orders.suggestions.drafts import drafts
from triage.orders.suggestions.lifecycle import (
    OPEN,
    check_closing,
    check_status,
    decide,
    decide_stored,
)

__all__ = [
    "InMemorySuggestionStore",
    "Suggestion",
    "SuggestionPolicy",
    "SuggestionStore",
]


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class Suggestion:
    """A proposed case for an order, with its category and drafts in Chinese and English."""

    suggestion_id: str
    order_id: str
    risk: float
    category: str
    reasons: list[dict]
    draft_zh: str
    draft_en: str
    created_at: dt.datetime
    status: str = "open"
    decided_at: dt.datetime | None = None
    case_id: str | None = None
    facts: dict = field(default_factory=dict)
    model: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-ready dict (times as ISO 8601)."""
        out = asdict(self)
        for key in ("created_at", "decided_at"):
            out[key] = out[key].isoformat() if out[key] is not None else None
        return out


@runtime_checkable
class SuggestionStore(Protocol):
    """Where suggestions are kept; implementations must be safe across threads."""

    def add(self, suggestion: Suggestion) -> None: ...

    def get(self, suggestion_id: str) -> Suggestion | None: ...

    def for_order(self, order_id: str) -> list[Suggestion]: ...

    def list(
        self, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Suggestion]: ...

    def update(self, suggestion: Suggestion) -> None: ...

    def open_orders(self, order_ids: Iterable[str] | None = None) -> set[str]: ...

    def close(
        self, order_ids: Iterable[str], status: str, now: dt.datetime
    ) -> list[Suggestion]: ...


class InMemorySuggestionStore:
    """`SuggestionStore` in a dict, guarded by a lock; gone when the process ends."""

    def __init__(self) -> None:
        self._items: dict[str, Suggestion] = {}
        self._by_order: dict[str, list[str]] = {}
        self._lock = threading.Lock()

    def add(self, suggestion: Suggestion) -> None:
        with self._lock:
            if suggestion.suggestion_id in self._items:
                raise InputError(f"suggestion {suggestion.suggestion_id} already exists")
            self._items[suggestion.suggestion_id] = suggestion
            self._by_order.setdefault(suggestion.order_id, []).append(suggestion.suggestion_id)

    def get(self, suggestion_id: str) -> Suggestion | None:
        with self._lock:
            return self._items.get(suggestion_id)

    def for_order(self, order_id: str) -> list[Suggestion]:
        with self._lock:
            return [self._items[i] for i in self._by_order.get(order_id, [])]

    def list(
        self, status: str | None = None, limit: int = 100, offset: int = 0
    ) -> list[Suggestion]:
        check_status(status)
        with self._lock:
            chosen = [s for s in self._items.values() if status is None or s.status == status]
        chosen.sort(key=lambda s: s.created_at, reverse=True)
        return chosen[offset : offset + limit]

    def update(self, suggestion: Suggestion) -> None:
        with self._lock:
            if suggestion.suggestion_id not in self._items:
                raise NotFoundError(f"no suggestion {suggestion.suggestion_id}")
            self._items[suggestion.suggestion_id] = suggestion

    def open_orders(self, order_ids: Iterable[str] | None = None) -> set[str]:
        wanted = None if order_ids is None else set(order_ids)
        with self._lock:
            return {
                s.order_id
                for s in self._items.values()
                if s.status == OPEN and (wanted is None or s.order_id in wanted)
            }

    def close(self, order_ids: Iterable[str], status: str, now: dt.datetime) -> list[Suggestion]:
        check_closing(status)
        wanted, closed = set(order_ids), []
        with self._lock:
            for key, current in sorted(self._items.items()):
                if current.order_id in wanted and current.status == OPEN:
                    self._items[key] = decide(current, key, status, now)
                    closed.append(self._items[key])
        return closed


class SuggestionPolicy:
    """Decides which scored orders get a suggestion; see the module docstring for the rules."""

    def __init__(self, threshold: float, cooldown: dt.timedelta = dt.timedelta(days=3)):
        if not 0.0 <= threshold <= 1.0:
            raise InputError(f"threshold must be between 0 and 1, not {threshold}")
        self.threshold = threshold
        self.cooldown = cooldown

    def blocked(
        self, score: RiskScore, store: SuggestionStore, *, has_case: bool, now: dt.datetime
    ) -> str | None:
        """Why `score` gets no suggestion, or None when it should get one."""
        if score.risk < self.threshold:
            return "below threshold"
        if has_case:
            return "a case exists for the order"
        for earlier in store.for_order(score.order_id):
            if earlier.status == OPEN:
                return "an open suggestion exists"
            if earlier.status == "accepted":
                return "a suggestion was accepted (its case exists)"
            if (
                earlier.status == "dismissed"
                and earlier.decided_at is not None
                and now - earlier.decided_at < self.cooldown
            ):
                return "dismissed recently (cooldown)"
        return None

    def suggest(
        self,
        scores: Iterable[RiskScore],
        store: SuggestionStore,
        *,
        has_case: Callable[[str], bool] | Container[str] = (),
        now: dt.datetime | None = None,
    ) -> list[Suggestion]:
        """Create and store suggestions for the `scores` the rules allow; returns them."""
        now = now or _now()
        check = has_case if callable(has_case) else (lambda order_id: order_id in has_case)
        made = []
        for score in scores:
            if (
                self.blocked(score, store, has_case=bool(check(score.order_id)), now=now)
                is not None
            ):
                continue
            texts = drafts(score.facts, score.category)
            suggestion = Suggestion(
                suggestion_id=f"sug_{uuid.uuid4().hex[:16]}",
                order_id=score.order_id,
                risk=score.risk,
                category=score.category,
                reasons=score.reasons,
                draft_zh=texts["zh"],
                draft_en=texts["en"],
                created_at=now,
                facts=score.facts,
                model=score.model,
            )
            store.add(suggestion)
            made.append(suggestion)
        return made

    def accept(
        self,
        store: SuggestionStore,
        suggestion_id: str,
        case_id: str,
        now: dt.datetime | None = None,
    ) -> Suggestion:
        """Mark accepted with the id of the case created from it (the caller creates the case)."""
        return decide_stored(store, suggestion_id, "accepted", now, case_id)

    def dismiss(
        self, store: SuggestionStore, suggestion_id: str, now: dt.datetime | None = None
    ) -> Suggestion:
        """Mark dismissed; the order's cooldown starts now."""
        return decide_stored(store, suggestion_id, "dismissed", now)
