"""The life of a suggestion: the one place that decides its status.

::

    open ─┬─ accepted    the filer opened its case          (decided by the filer)
          ├─ dismissed   the filer declined it; cooldown    (decided by the filer)
          ├─ resolved    its order was delivered or canceled (closed by the service)
          └─ expired     its order went over 30 days past its promise undelivered

Every status but open is final: only an open suggestion can be decided (`decide`), which is
the rule every store applies; `DatabaseSuggestionStore` applies it atomically with a
conditional update (``WHERE status = 'open'``), so that two workers deciding at once cannot both
win. `settle` is what follows every scoring, in the service and in ``triage score-orders``:
suggestions for the flagged orders under the policy, and the open suggestions of orders that are
no longer open closed as resolved or expired.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Container, Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from triage.errors import ConflictError, InputError, NotFoundError

if TYPE_CHECKING:
    from triage.orders.risk.scoring import RiskScore
    from triage.orders.suggestions.policy import Suggestion, SuggestionPolicy, SuggestionStore

__all__ = [
    "CLOSED_BY_SERVICE",
    "DECIDED_BY_FILER",
    "OPEN",
    "STATUSES",
    "Settled",
    "check_closing",
    "check_status",
    "close_settled",
    "closing_status",
    "decide",
    "decide_stored",
    "refuse",
    "settle",
    "suggest_each",
]

OPEN = "open"
#: accepted: its case was opened; dismissed: declined by the filer (the order's cooldown runs)
DECIDED_BY_FILER = ("accepted", "dismissed")
#: resolved: the order was delivered or canceled; expired: the order went more than 30 days past
#: its promise undelivered (no longer scored)
CLOSED_BY_SERVICE = ("resolved", "expired")
STATUSES = (OPEN, *DECIDED_BY_FILER, *CLOSED_BY_SERVICE)

#: the status an open suggestion is closed with, by the state of its order
#: (triage.orders.risk.scoring.order_states); an order in any other state keeps it open
_CLOSING = {"delivered": "resolved", "canceled": "resolved", "overdue": "expired"}


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def check_status(status: str | None) -> None:
    """`InputError` unless `status` is None or one of `STATUSES`."""
    if status is not None and status not in STATUSES:
        raise InputError(f"unknown status {status!r}; use one of {', '.join(STATUSES)}")


def check_closing(status: str) -> None:
    """`InputError` unless `status` is one the service closes suggestions with."""
    if status not in CLOSED_BY_SERVICE:
        raise InputError(f"suggestions are closed as {' or '.join(CLOSED_BY_SERVICE)}")


def refuse(suggestion_id: str, status: str | None) -> None:
    """Raise why suggestion `suggestion_id`, now `status` (None: there is none), cannot be
    decided: `NotFoundError`, or `ConflictError` for a decided one."""
    if status is None:
        raise NotFoundError(f"no suggestion {suggestion_id}")
    raise ConflictError(f"suggestion {suggestion_id} is already {status}")


def decide(
    current: Suggestion | None,
    suggestion_id: str,
    status: str,
    now: dt.datetime | None = None,
    case_id: str | None = None,
) -> Suggestion:
    """`current` (the suggestion `suggestion_id`, None when there is none) decided as `status`
    at `now`: only an open suggestion can be decided. The caller saves the result."""
    if status not in STATUSES or status == OPEN:
        raise InputError(f"a suggestion is decided as one of {', '.join(STATUSES[1:])}")
    if current is None or current.status != OPEN:
        refuse(suggestion_id, None if current is None else current.status)
    assert current is not None
    return replace(current, status=status, decided_at=now or _now(), case_id=case_id)


def decide_stored(
    store: SuggestionStore,
    suggestion_id: str,
    status: str,
    now: dt.datetime | None = None,
    case_id: str | None = None,
) -> Suggestion:
    """`decide` the stored suggestion and save it; returns it decided."""
    changed = decide(store.get(suggestion_id), suggestion_id, status, now, case_id)
    store.update(changed)
    return changed


def closing_status(order_state: str) -> str | None:
    """The status an open suggestion of an order in `order_state` is closed with (resolved,
    expired), or None while the order is open."""
    return _CLOSING.get(order_state)


@dataclass
class Settled:
    """What `settle` did: the suggestions made and those closed."""

    made: list[Suggestion]
    closed: list[Suggestion]


def suggest_each(
    policy: SuggestionPolicy,
    scores: Iterable[RiskScore],
    store: SuggestionStore,
    *,
    has_case: Container[str] = (),
    now: dt.datetime | None = None,
) -> list[Suggestion]:
    """`policy.suggest` one score at a time: an order whose open suggestion another process
    stored meanwhile (`ConflictError` from the store) is skipped, the others go on."""
    made: list[Suggestion] = []
    for score in scores:
        try:
            made += policy.suggest([score], store, has_case=has_case, now=now)
        except ConflictError:
            continue
    return made


def settle(
    policy: SuggestionPolicy,
    scores: Iterable[RiskScore],
    store: SuggestionStore,
    *,
    order_ids: Iterable[str] | None,
    order_states: Callable[[set[str]], Mapping[str, str]],
    has_case: Container[str] = (),
    now: dt.datetime,
) -> Settled:
    """After scoring `order_ids` (every order when None): suggestions for the flagged
    `scores` the policy allows, then the open suggestions of those orders that are no longer
    open closed as resolved or expired. `order_states(ids)` gives the state of each of `ids`
    as of `now` (from the database, or from the scored files)."""
    flagged = [s for s in scores if s.flagged]
    made = suggest_each(policy, flagged, store, has_case=has_case, now=now)
    return Settled(made, close_settled(store, order_ids, order_states, now))


def close_settled(
    store: SuggestionStore,
    order_ids: Iterable[str] | None,
    order_states: Callable[[set[str]], Mapping[str, str]],
    now: dt.datetime,
) -> list[Suggestion]:
    """Close the open suggestions of `order_ids` (every order when None) whose order is no
    longer open: resolved when delivered or canceled, expired when overdue. Returns them."""
    pending = store.open_orders(order_ids)
    closing: dict[str, list[str]] = {}
    if pending:
        for order_id, state in order_states(pending).items():
            status = closing_status(state)
            if status is not None:
                closing.setdefault(status, []).append(order_id)
    closed: list[Suggestion] = []
    for status in CLOSED_BY_SERVICE:
        closed += store.close(closing.get(status, ()), status, now)
    return closed
