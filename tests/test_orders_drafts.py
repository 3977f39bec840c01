"""The case model reads each suggestion's draft, in both languages, as the suggestion's category.

A filer who accepts a suggestion files its draft; the case model then categorizes the text.
A not_received draft (the parcel appears lost) read as shipping_delay, or the reverse, would
route the case to the wrong queue. The default case model (trained on the corpus's train split,
as tests/test_default_model.py does) must agree with the category of every draft: the drafts
of scored simulated orders, and a grid of facts covering every last tracking event, time left
or past the promise, silences, and unnamed carriers and places.
"""

import itertools

import numpy as np
import pandas as pd
import pytest

from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.scoring import suggested_category
from triage.orders.risk.snapshots import censor
from triage.orders.suggestions.drafts import drafts

HANDED_OVER = {
    "label_created": False,
    "none": False,
    "picked_up": True,
    "in_transit": True,
    "arrived_at_hub": True,
    "out_for_delivery": True,
    "exception": True,
}


@pytest.fixture(scope="module")
def case_model(default_case_model):
    return default_case_model


def grid_facts():
    """(category, facts) over every event, time left/past, silence, named or not."""
    for event, days_left, silent, carrier, place in itertools.product(
        HANDED_OVER, (3.5, 1.2, 0.4, -0.2, -1.5, -3.5, -8.0, -20.0), (0.5, 2.5, 7.5, 15.0),
        ("Panda Post", "unknown"), ("ZJ", "unknown"),
    ):  # fmt: skip
        facts = {
            "order_id": "SIM0004242",
            "purchased_at": "2024-03-01T10:00:00+00:00",
            "promised_date": "2024-03-06",
            "carrier": carrier,
            "last_event": event,
            "last_event_time": None if event == "none" else "2024-03-03T08:00:00+00:00",
            "last_location": place,
            "days_left": days_left,
            "days_since_last_event": silent,
            "handed_over": HANDED_OVER[event],
        }
        yield suggested_category(days_left, HANDED_OVER[event], silent), facts


def scored_facts(api_risk_scorer):
    """(category, facts) of open orders of a simulated marketplace, as the scorer sees them."""
    sim = simulate_marketplace(3_000, seed=4, start="2024-10-01", days=45)
    at = pd.Timestamp("2024-11-10T09:00:00Z")
    orders, events = censor(sim.orders, sim.events, at)
    return [(s.category, s.facts) for s in api_risk_scorer.score(orders, events, as_of=at)]


def assert_read_as_their_category(case_model, cases):
    texts, expected = [], []
    for category, facts in cases:
        for text in drafts(facts, category).values():
            texts.append(text)
            expected.append(category)
    proba = case_model.predict_proba(texts)
    predicted = case_model.classes_[proba.argmax(axis=1)]
    wrong = [(e, p, t) for e, p, t in zip(expected, predicted, texts, strict=True) if e != p]
    assert not wrong, f"{len(wrong)} of {len(texts)} drafts read otherwise, e.g. {wrong[:2]}"
    return np.asarray(expected), proba


def test_grid_drafts_are_read_as_their_category(case_model):
    cases = list(grid_facts())
    assert {c for c, _ in cases} == {"shipping_delay", "not_received"}
    expected, proba = assert_read_as_their_category(case_model, cases)
    # not by a hair: the category's probability stays well clear of a coin toss
    columns = {c: i for i, c in enumerate(case_model.classes_)}
    own = proba[np.arange(len(expected)), [columns[c] for c in expected]]
    assert own.min() >= 0.7


def test_drafts_of_scored_orders_are_read_as_their_category(case_model, api_risk_scorer):
    cases = scored_facts(api_risk_scorer)
    counts = pd.Series([c for c, _ in cases]).value_counts()
    assert counts.get("shipping_delay", 0) > 50 and counts.get("not_received", 0) >= 1
    assert_read_as_their_category(case_model, cases)
