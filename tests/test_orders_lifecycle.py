"""The suggestion lifecycle: one place decides, and only an open suggestion can be decided."""

import datetime as dt

import pytest

from triage.errors import ConflictError, InputError, NotFoundError
from triage.orders.suggestions.lifecycle import (
    CLOSED_BY_SERVICE,
    STATUSES,
    close_settled,
    closing_status,
    decide,
)
from triage.orders.suggestions.policy import InMemorySuggestionStore, Suggestion

NOW = dt.datetime(2024, 11, 12, 9, 0, tzinfo=dt.UTC)


def suggestion(suggestion_id: str, order_id: str, status: str = "open") -> Suggestion:
    return Suggestion(suggestion_id, order_id, 0.9, "shipping_delay", [], "zh", "en", NOW, status)


@pytest.mark.parametrize("status", ("accepted", "dismissed", "resolved", "expired"))
def test_an_open_suggestion_takes_every_final_status(status):
    decided = decide(suggestion("s1", "A1"), "s1", status, NOW, case_id="c1")
    assert (decided.status, decided.decided_at, decided.case_id) == (status, NOW, "c1")


@pytest.mark.parametrize("status", ("accepted", "dismissed", "resolved", "expired"))
def test_a_decided_suggestion_cannot_be_decided_again(status):
    with pytest.raises(ConflictError, match=f"already {status}"):
        decide(suggestion("s1", "A1", status), "s1", "dismissed", NOW)


def test_unknown_suggestion_and_unknown_status_are_refused():
    with pytest.raises(NotFoundError, match="no suggestion s9"):
        decide(None, "s9", "accepted", NOW)
    with pytest.raises(InputError, match="decided as one of"):
        decide(suggestion("s1", "A1"), "s1", "open", NOW)
    assert STATUSES[0] == "open" and set(CLOSED_BY_SERVICE) < set(STATUSES)


def test_closing_status_follows_the_order_state():
    assert [closing_status(s) for s in ("delivered", "canceled", "overdue", "open", "future")] == [
        "resolved",
        "resolved",
        "expired",
        None,
        None,
    ]


def test_close_settled_closes_only_open_suggestions_of_settled_orders():
    store = InMemorySuggestionStore()
    for item in (
        suggestion("s1", "A1"),
        suggestion("s2", "B1"),
        suggestion("s3", "C1"),
        suggestion("s4", "D1", "dismissed"),
    ):
        store.add(item)
    states = {"A1": "delivered", "B1": "overdue", "C1": "open", "D1": "canceled"}
    closed = close_settled(store, None, lambda ids: {i: states[i] for i in ids}, NOW)
    assert [(s.suggestion_id, s.status) for s in closed] == [("s1", "resolved"), ("s2", "expired")]
    assert [store.get(i).status for i in ("s1", "s2", "s3", "s4")] == [
        "resolved",
        "expired",
        "open",
        "dismissed",
    ]
    assert store.open_orders() == {"C1"}
