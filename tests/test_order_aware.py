"""The order-aware part of the case model (triage.cases.order_aware), the order facts it reads
(triage.orders.context) and the order-dependent texts it learns from (data/order_cases)."""

import numpy as np
import pandas as pd
import pytest

from triage.cases.order_aware import (
    FACT_NAMES,
    ORDER_STATES,
    OrderFacts,
    OrderStack,
    fact_matrix,
)
from triage.corpus import find_near_duplicates
from triage.errors import DataFileError, InputError, ModelError
from triage.orders.context import order_facts, order_state
from triage.orders.linked import (
    PLAUSIBLE,
    ambiguous_cases,
    best_setting,
    clear_cases,
    load_order_dependent,
    simulated_facts,
)
from triage.taxonomy import load_taxonomy


def test_the_order_dependent_texts_are_many_varied_and_valid(corpus):
    frame = load_order_dependent(categories=load_taxonomy().ids)
    counts = frame["language"].value_counts()
    assert counts["zh"] >= 150 and counts["en"] >= 150  # issue 13: 150 per language at least
    assert frame["text"].is_unique
    # none close to another, nor to a corpus text (the corpus's own near-duplicate rule)
    texts = pd.concat([frame["text"], corpus["text"]], ignore_index=True)
    pairs = find_near_duplicates(texts.tolist())
    assert [(i, j) for i, j, _ in pairs if i < len(frame)] == []
    # every text depends on the order: two states at least with different categories
    assert all(len(set(b.values())) >= 2 for b in frame["by_state"])
    assert set(frame["split"]) == {"train", "test"}


@pytest.mark.parametrize(
    ("line", "message"),
    (
        ("not json", "not JSON"),
        ('{"text": "x"}', "needs text and by_state"),
        ('{"text": "x", "by_state": {"lost": "shipping_delay", "delivered": "x"}}', "unknown"),
        ('{"text": "x", "by_state": {"in_transit": "a", "delivered": "a"}}', "two categories"),
    ),
)
def test_bad_order_dependent_files_are_refused(tmp_path, line, message):
    (tmp_path / "bad.jsonl").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(DataFileError, match=message):
        load_order_dependent(tmp_path)


def test_order_facts_only_know_the_past():
    now = pd.Timestamp("2024-03-10T12:00:00Z")
    orders = pd.DataFrame(
        {
            "order_id": ["A", "B", "C", "D"],
            "purchased_at": pd.to_datetime(["2024-03-01"] * 4, utc=True),
            "promised_date": pd.to_datetime(["2024-03-05"] * 4, utc=True),
            "delivered_at": pd.to_datetime([None, None, None, "2024-03-12"], utc=True),
            "canceled": [False, False, True, False],
        }
    )
    events = pd.DataFrame(
        {
            "order_id": ["A", "B", "B", "D"],
            "time": pd.to_datetime(
                ["2024-03-02", "2024-03-02", "2024-03-11", "2024-03-03"], utc=True
            ),
            "event_type": ["label_created", "picked_up", "delivered", "picked_up"],
            "location": ["", "GD", "SH", "GD"],
        }
    )
    facts = dict(zip(orders["order_id"], order_facts(orders, events, now), strict=True))
    # A: a label only; B: delivered tomorrow (unknown now); C: canceled; D: delivered later
    assert {k: f.status for k, f in facts.items()} == {
        "A": "not_shipped",
        "B": "in_transit",
        "C": "canceled",
        "D": "in_transit",
    }
    assert facts["B"].days_late == pytest.approx(4.5)  # past the end of Mar 5
    assert facts["C"].days_late == 0
    assert facts["B"].days_since_last_event == pytest.approx(8.5)
    assert facts["A"].handed_over is False and facts["B"].handed_over is True
    later = order_facts(orders, events, pd.Timestamp("2024-03-13T00:00:00Z"))
    assert [f.status for f in later] == ["not_shipped", "delivered", "canceled", "delivered"]
    assert later[3].days_late == pytest.approx(6.0)  # delivered Mar 12, due by the end of Mar 5
    state = order_state(
        orders.iloc[1].to_dict(),
        events[events["order_id"] == "B"].to_dict("records"),
        pd.Timestamp("2024-03-13T00:00:00Z").to_pydatetime(),
    )
    assert state.last_event["event_type"] == "delivered" and state.delivered_at.day == 11


def test_facts_are_validated_and_encoded():
    with pytest.raises(InputError, match="status"):
        OrderFacts("lost")
    silent = OrderFacts("in_transit", 3.0, True, 9.0)
    x = fact_matrix([silent, OrderFacts("delivered")])
    assert x[0, ORDER_STATES.index("in_transit")] == 1 and x[0, -1] == 1 and x[0, 4] == 1
    assert x[1].sum() == 1


def test_the_stack_learns_a_prior_per_state_and_keeps_the_text_elsewhere():
    """Synthetic: two delivery categories the text cannot tell apart, a third it can."""
    rng = np.random.default_rng(0)
    classes = ["not_received", "product_quality", "shipping_delay"]
    proba, facts, labels = [], [], []
    for _ in range(600):
        state = ORDER_STATES[rng.integers(2) + 1]  # in_transit or delivered
        if rng.random() < 0.3:  # a clear product_quality text
            proba.append([0.1, 0.8, 0.1])
            labels.append("product_quality")
            state = "delivered"
        else:  # "where is it": the text says shipping_delay either way
            proba.append([0.35, 0.05, 0.6])
            labels.append("not_received" if state == "delivered" else "shipping_delay")
        facts.append(OrderFacts(state))
    stack = OrderStack().fit(np.array(proba), facts, labels, classes)
    where = np.array([[0.35, 0.05, 0.6]] * 2)
    got = stack.predict_proba(where, [OrderFacts("in_transit"), OrderFacts("delivered")])
    assert [classes[i] for i in got.argmax(axis=1)] == ["shipping_delay", "not_received"]
    clear = stack.predict_proba(np.array([[0.1, 0.8, 0.1]]), [OrderFacts("delivered")])
    assert classes[int(clear.argmax())] == "product_quality"
    evidence = stack.evidence(where[1], OrderFacts("delivered"), "not_received")
    assert evidence[0]["fact"] == "status" and evidence[0]["value"] == "delivered"
    with pytest.raises(ModelError, match="not fitted"):
        OrderStack().predict_proba(where, facts[:2])
    with pytest.raises(InputError, match="not among the classes"):
        OrderStack().fit(np.array(proba), facts, ["lost"] * len(facts), classes)


def _order_blind_cases(seed: int = 0) -> tuple[np.ndarray, list, list, list]:
    """Synthetic: "where is it" texts whose category the state decides, and sure account_health
    texts whose category no state changes, next to every state."""
    rng = np.random.default_rng(seed)
    classes = ["account_health", "not_received", "order_issue", "shipping_delay"]
    proba, facts, labels = [], [], []
    for _ in range(800):
        state = ORDER_STATES[rng.integers(len(ORDER_STATES))]
        if rng.random() < 0.5:
            proba.append([0.97, 0.01, 0.01, 0.01])
            labels.append("account_health")
        else:
            proba.append([0.02, 0.3, 0.08, 0.6])
            labels.append(
                {"delivered": "not_received", "canceled": "order_issue"}.get(
                    state, "shipping_delay"
                )
            )
        facts.append(OrderFacts(state))
    return np.array(proba), facts, labels, classes


def test_a_sure_text_keeps_its_category_next_to_any_order():
    proba, facts, labels, classes = _order_blind_cases()
    stack = OrderStack(alpha=5.0, alpha_interact=3.0).fit(proba, facts, labels, classes)
    sure = np.array([[0.97, 0.01, 0.01, 0.01]] * len(ORDER_STATES))
    got = stack.predict_proba(sure, [OrderFacts(s) for s in ORDER_STATES])
    assert [classes[i] for i in got.argmax(axis=1)] == ["account_health"] * len(ORDER_STATES)
    unsure = np.array([[0.02, 0.3, 0.08, 0.6]] * 2)
    moved = stack.predict_proba(unsure, [OrderFacts("delivered"), OrderFacts("canceled")])
    assert [classes[i] for i in moved.argmax(axis=1)] == ["not_received", "order_issue"]


def test_the_text_times_fact_weights_have_their_own_penalty():
    proba, facts, labels, classes = _order_blind_cases(1)
    alike = OrderStack(alpha=3.0).fit(proba, facts, labels, classes)
    same = OrderStack(alpha=3.0, alpha_interact=3.0).fit(proba, facts, labels, classes)
    np.testing.assert_allclose(alike.fact_weights_, same.fact_weights_)
    held = OrderStack(alpha=3.0, alpha_interact=1e6).fit(proba, facts, labels, classes)
    m = len(FACT_NAMES)
    assert np.abs(held.fact_weights_[:, m:]).max() < 1e-2  # held at zero
    assert np.abs(held.fact_weights_[:, :m]).max() > 0.5  # the facts alone still speak


def test_the_chosen_setting_loses_no_clear_case_in_any_language():
    rows = [
        {"alpha": 1.0, "dependent": 46.0, "clear_net": {"zh": -3, "en": 8}},  # en pays for zh
        {"alpha": 3.0, "dependent": 41.0, "clear_net": {"zh": 0, "en": 1}},
        {"alpha": 5.0, "dependent": 38.0, "clear_net": {"zh": 4, "en": 3}},
    ]
    assert best_setting(rows)["alpha"] == 3.0
    rows = [
        {"alpha": 1.0, "dependent": 46.0, "clear_net": {"zh": -3, "en": 0}},
        {"alpha": 3.0, "dependent": 41.0, "clear_net": {"zh": -1, "en": -1}},
    ]
    assert best_setting(rows)["alpha"] == 3.0  # none loses nothing: the fewest lost


def test_linked_cases_join_texts_with_plausible_orders():
    facts = simulated_facts(800, seed=3, moments=4)
    assert {f.status for f in facts} == set(ORDER_STATES)
    clear = pd.DataFrame(
        {
            "text": ["broken on arrival", "fee question"],
            "category": ["product_quality", "payment_fee"],
            "language": ["en", "en"],
        }
    )
    joined = clear_cases(clear, facts, per_text=3)
    assert len(joined) == 6 and joined.kind == ["clear"] * 6
    assert all(PLAUSIBLE["product_quality"](f) for f in joined.facts[:3])
    dependent = pd.DataFrame(
        {
            "text": ["where is it"],
            "language": ["en"],
            "by_state": [{"in_transit": "shipping_delay", "delivered": "not_received"}],
        }
    )
    expanded = ambiguous_cases(dependent, facts)
    assert [(f.status, y) for f, y in zip(expanded.facts, expanded.labels, strict=True)] == [
        ("in_transit", "shipping_delay"),
        ("delivered", "not_received"),
    ]
    assert simulated_facts(800, seed=3, moments=4) == facts  # the same draw


def test_predict_cases_with_an_orders_file(order_aware_router, tmp_path):
    """`triage predict cases --orders`: the order a case names (column or text) moves it."""
    import json

    from click.testing import CliRunner

    from triage.cli import cli
    from triage.registry import save_model_dir

    model_dir = tmp_path / "model"
    save_model_dir(model_dir, order_aware_router.model, {"name": "cases", "version": "t"})
    orders = pd.DataFrame(
        {
            "order_id": ["PX-100", "PX-200"],
            "purchased_at": ["2026-11-20T10:00:00Z"] * 2,
            "promised_date": ["2026-11-25"] * 2,
            "delivered_at": ["2026-11-28T12:00:00Z", None],
            "canceled": [False, False],
        }
    )
    orders.to_csv(tmp_path / "orders.csv", index=False)
    events = pd.DataFrame(
        {
            "order_id": ["PX-200"],
            "time": ["2026-11-21T10:00:00Z"],
            "event_type": ["picked_up"],
            "location": ["GD"],
        }
    )
    events.to_csv(tmp_path / "events.csv", index=False)
    text = "where is my stuff??"
    cases = pd.DataFrame({"text": [text, text, f"{text} order PX-100", text]})
    cases["order_id"] = ["PX-100", "PX-200", None, None]
    cases.to_csv(tmp_path / "cases.csv", index=False)
    base = ["predict", "cases", "--model", str(model_dir), "--data", str(tmp_path / "cases.csv")]
    base += ["--orders", str(tmp_path / "orders.csv"), "--events", str(tmp_path / "events.csv")]
    runner = CliRunner()
    result = runner.invoke(cli, [*base, "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    docs = json.loads(result.output)
    assert [d["order"]["status"] if d["order"] else None for d in docs] == [
        "delivered",
        "in_transit",
        "delivered",
        None,
    ]
    assert [d["category"] for d in docs[:2]] == ["not_received", "shipping_delay"]
    assert docs[3]["order"] is None and docs[3]["text_only"] is None
    out = tmp_path / "out.csv"
    assert runner.invoke(cli, [*base, "--out", str(out)]).exit_code == 0
    written = pd.read_csv(out)
    assert list(written["order_status"].fillna("")) == ["delivered", "in_transit", "delivered", ""]
    assert written.loc[0, "text_category"] != "not_received"
    bad = runner.invoke(cli, [*base[:6], "--events", str(tmp_path / "events.csv")])
    assert bad.exit_code == 2 and "--events goes with --orders" in bad.output


def test_an_order_aware_answer_is_guarded_like_the_text_answer(order_aware_router):
    """The review threshold of a case with an order is its class's threshold of the head that
    scored the text (not always the full head's), as for a case without an order."""
    from triage.cases.order_aware import LinkedOrder

    model = order_aware_router.model
    text = "where is my stuff??"
    alone = order_aware_router.predict([text])[0]
    linked = LinkedOrder(OrderFacts("in_transit", 1.0, True, 1.0), {"order_id": "A1"})
    aware = order_aware_router.predict([text], None, [linked])[0]
    assert aware.category == alone.category == "shipping_delay"
    scored = model.scores([text])
    assert aware.threshold == pytest.approx(float(scored.thresholds[0]), abs=1e-4)
    assert aware.needs_review == (aware.confidence < aware.threshold)
