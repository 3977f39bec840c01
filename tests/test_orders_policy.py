"""Suggestion rules (threshold, one open per order, cooldown, existing case) and bilingual drafts."""

import dataclasses
import datetime as dt
import re

import pytest

from triage.errors import InputError, NotFoundError
from triage.orders.risk.reasons import overdue_phrase, time_left_phrase
from triage.orders.risk.scoring import RiskScore, suggested_category
from triage.orders.suggestions.drafts import draft_case, drafts
from triage.orders.suggestions.policy import (
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
    assert "in transit" in en and "running late" in en and "only 1 day is left" in en
    assert "运输中" in zh and "延误" in zh and "仅剩 1 天" in zh
    assert not re.search(r"[\u4e00-\u9fff]", en)


@pytest.mark.parametrize(
    ("days_left", "english", "chinese"),
    (
        (-0.2, "the promised date passed today", "承诺送达日今天已过"),
        (-1.4, "the promised date passed 1 day ago", "承诺送达日已过 1 天"),
        (-3.5, "the promised date passed 3 days ago", "承诺送达日已过 3 天"),
        (0.4, "less than a day is left", "已不到 1 天"),
        (3.9, "only 3 days are left", "仅剩 3 天"),
    ),
)
def test_drafts_say_how_late_in_words(days_left, english, chinese):
    texts = drafts({**FACTS, "days_left": days_left}, "shipping_delay")
    assert english in texts["en"] and chinese in texts["zh"]
    for text in texts.values():
        assert "day(s)" not in text and " 0 day" not in text and "已过 0 天" not in text


def test_overdue_and_time_left_phrases():
    assert [overdue_phrase(d) for d in (0.0, 0.9, 1.0, 2.7, 10.2)] == [
        ("today", "今天"),
        ("today", "今天"),
        ("1 day ago", "1 天前"),
        ("2 days ago", "2 天前"),
        ("10 days ago", "10 天前"),
    ]
    assert [time_left_phrase(d) for d in (0.3, 1.5, 4.0)] == [
        ("less than a day", "不到 1 天"),
        ("1 day", "1 天"),
        ("4 days", "4 天"),
    ]


def test_not_received_drafts_and_category_rule():
    facts = {**FACTS, "days_left": -8.2, "days_since_last_event": 9.1}
    texts = drafts(facts, "not_received")
    assert texts["en"].startswith("Item not received: the buyer never got order SIM0000042")
    assert "appears to be lost" in texts["en"] and "passed 8 days ago" in texts["en"]
    assert "nothing since" in texts["en"] and "reship the item or refund" in texts["en"]
    assert texts["zh"].startswith("买家没收到货，包裹可能丢了。订单 SIM0000042")
    assert "承诺送达日已过 8 天" in texts["zh"] and "此后 9 天再无消息" in texts["zh"]
    silent = drafts({**FACTS, "last_event": "none", "last_event_time": None}, "not_received")
    assert "There is no tracking event yet." in silent["en"] and "ZJ" not in silent["en"]
    assert "暂无物流记录" in silent["zh"] and "ZJ" not in silent["zh"]
    # lost: handed over, then silent for a week or a week past the promise; else late
    assert suggested_category(2.0, handed_over=True, days_since_last_event=8.0) == "not_received"
    assert suggested_category(-7.5, handed_over=True, days_since_last_event=1.0) == "not_received"
    assert suggested_category(-0.5, handed_over=True, days_since_last_event=1.0) == "shipping_delay"
    assert (
        suggested_category(-9.0, handed_over=False, days_since_last_event=9.0) == "shipping_delay"
    )
    with pytest.raises(InputError, match="language must be zh or en"):
        draft_case(FACTS, "shipping_delay", "fr")
    with pytest.raises(InputError, match="no draft for category"):
        draft_case(FACTS, "payment_fee", "en")


def test_drafts_do_not_print_unknown_as_a_name():
    facts = {**FACTS, "carrier": "unknown", "last_location": "unknown"}
    for category in ("shipping_delay", "not_received"):
        texts = drafts(facts, category)
        assert "unknown" not in texts["en"] and "unknown" not in texts["zh"]
        assert "shipped with" not in texts["en"] and "承运商未注明" in texts["zh"]


def test_resolved_or_expired_suggestions_do_not_block_a_new_one(store):
    policy = SuggestionPolicy(threshold=0.5, cooldown=dt.timedelta(days=3))
    first = policy.suggest([score()], store, now=NOW)[0]
    store.update(dataclasses.replace(first, status="resolved", decided_at=NOW))
    again = policy.suggest([score()], store, now=NOW + dt.timedelta(hours=1))
    assert len(again) == 1  # no cooldown: that is for dismissals
    assert store.list(status="resolved") == [store.get(first.suggestion_id)]
