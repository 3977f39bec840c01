"""Suggestion rules (threshold, one open per order, cooldown, existing case) and bilingual drafts."""

import datetime as dt
import re

import pytest

from triage.errors import InputError, NotFoundError
from triage.orders.drafts import draft_case, drafts
from triage.orders.scoring import RiskScore, suggested_category
from triage.orders.suggestions import (
    InMemorySuggestionStore,
    SuggestionPolicy,
    SuggestionStore,
)

NOW = dt.datetime(2024, 11, 12, 9, 0, tzinfo=dt.UTC)
FACTS = {
    "order_id": "SIM0000042",
    "purchased_at": "2024-11-08T10:00:00+00:00",
    "promised_date": "2024-11-13",
    "carrier": "Panda Post",
    "last_event": "in_transit",
    "last_event_time": "2024-11-10T08:00:00+00:00",
    "last_location": "ZJ",
    "days_left": 1.6,
}


def score(order_id="SIM0000042", risk=0.8, category="shipping_delay"):
    return RiskScore(
        order_id=order_id,
        as_of=NOW.isoformat(),
        risk=risk,
        flagged=risk >= 0.5,
        category=category,
        reasons=[
            {"factor": "tracking_gap", "impact": 0.2, "text_en": "no update", "text_zh": "无更新"}
        ],
        facts={**FACTS, "order_id": order_id},
    )


@pytest.fixture
def store():
    return InMemorySuggestionStore()


def test_the_memory_store_implements_the_protocol(store):
    assert isinstance(store, SuggestionStore)


def test_threshold_and_one_open_suggestion_per_order(store):
    policy = SuggestionPolicy(threshold=0.5)
    made = policy.suggest([score(risk=0.8), score("B1", risk=0.4), score(risk=0.9)], store, now=NOW)
    assert [s.order_id for s in made] == ["SIM0000042"]  # B1 below threshold, duplicate dropped
    again = policy.suggest([score(risk=0.95)], store, now=NOW + dt.timedelta(days=2))
    assert again == []
    assert policy.blocked(score(), store, has_case=False, now=NOW) == "an open suggestion exists"
    suggestion = made[0]
    assert suggestion.status == "open" and suggestion.suggestion_id.startswith("sug_")
    assert suggestion.to_dict()["created_at"] == NOW.isoformat()
    assert store.list(status="open") == [suggestion]


def test_existing_case_blocks_suggestions(store):
    policy = SuggestionPolicy(threshold=0.5)
    assert policy.suggest([score()], store, has_case={"SIM0000042"}, now=NOW) == []
    assert policy.suggest([score()], store, has_case=lambda order_id: True, now=NOW) == []
    assert len(policy.suggest([score()], store, has_case=lambda order_id: False, now=NOW)) == 1


def test_cooldown_after_dismissal_and_no_repeat_after_acceptance(store):
    policy = SuggestionPolicy(threshold=0.5, cooldown=dt.timedelta(days=3))
    first = policy.suggest([score()], store, now=NOW)[0]
    dismissed = policy.dismiss(store, first.suggestion_id, now=NOW)
    assert dismissed.status == "dismissed" and dismissed.decided_at == NOW
    assert policy.suggest([score()], store, now=NOW + dt.timedelta(days=2)) == []
    later = policy.suggest([score()], store, now=NOW + dt.timedelta(days=3, minutes=1))
    assert len(later) == 1
    accepted = policy.accept(
        store, later[0].suggestion_id, case_id="case_1", now=NOW + dt.timedelta(days=4)
    )
    assert accepted.case_id == "case_1" and store.get(accepted.suggestion_id).status == "accepted"
    assert policy.suggest([score()], store, now=NOW + dt.timedelta(days=30)) == []
    assert [s.status for s in store.for_order("SIM0000042")] == ["dismissed", "accepted"]


def test_decisions_on_unknown_or_closed_suggestions_are_errors(store):
    policy = SuggestionPolicy(threshold=0.5)
    with pytest.raises(NotFoundError, match="no suggestion"):
        policy.dismiss(store, "sug_missing")
    made = policy.suggest([score()], store, now=NOW)[0]
    policy.dismiss(store, made.suggestion_id)
    with pytest.raises(InputError, match="already dismissed"):
        policy.accept(store, made.suggestion_id, case_id="c")
    with pytest.raises(InputError, match="threshold must be between 0 and 1"):
        SuggestionPolicy(threshold=1.5)
    with pytest.raises(InputError, match="unknown status"):
        store.list(status="pending")


def test_drafts_in_both_languages_name_order_dates_carrier_and_last_event():
    texts = drafts(FACTS, "shipping_delay")
    en, zh = texts["en"], texts["zh"]
    for text in (en, zh):
        assert "SIM0000042" in text and "2024-11-08" in text and "2024-11-13" in text
        assert "Panda Post" in text and "2024-11-10 08:00" in text and "ZJ" in text
    assert "in transit" in en and "late" in en
    assert "运输中" in zh and "延误" in zh and re.search(r"[\u4e00-\u9fff]", zh)
    assert not re.search(r"[\u4e00-\u9fff]", en)


def test_not_received_drafts_and_category_rule():
    facts = {**FACTS, "days_left": -4.0, "last_event": "none", "last_event_time": None}
    texts = drafts(facts, "not_received")
    assert "has not received" in texts["en"] and "no tracking event yet" in texts["en"]
    assert "仍未收到" in texts["zh"] and "暂无物流记录" in texts["zh"]
    assert suggested_category(-0.5, handed_over=True, days_since_last_event=1.0) == "not_received"
    assert suggested_category(2.0, handed_over=True, days_since_last_event=8.0) == "not_received"
    assert suggested_category(2.0, handed_over=False, days_since_last_event=8.0) == "shipping_delay"
    with pytest.raises(InputError, match="language must be zh or en"):
        draft_case(FACTS, "shipping_delay", "fr")
    with pytest.raises(InputError, match="no draft for category"):
        draft_case(FACTS, "payment_fee", "en")


def test_drafts_do_not_print_unknown_as_a_name():
    facts = {**FACTS, "carrier": "unknown", "last_location": "unknown"}
    texts = drafts(facts, "shipping_delay")
    assert "unknown" not in texts["en"] and "unknown" not in texts["zh"]
    assert (
        "a carrier not named in the order data" in texts["en"] and "订单数据未注明" in texts["zh"]
    )
