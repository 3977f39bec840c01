"""Orders, events, suggestions and cases in the service database; the order service on it; the
commands that write there (score-orders, bootstrap --demo-orders)."""

import dataclasses
import datetime as dt
import warnings

import pandas as pd
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from triage.cases.store import CaseRecord, CaseStore
from triage.cli import cli
from triage.config import Settings
from triage.errors import ConflictError, DataFileError, InputError, NotFoundError, StoreError
from triage.orders.data.schema import events_from_records, orders_from_records
from triage.orders.service import OrderService
from triage.orders.storage import OrderStore
from triage.orders.suggestion_store import DatabaseSuggestionStore
from triage.orders.suggestions.policy import Suggestion, SuggestionPolicy, SuggestionStore
from triage.store import Store, utcnow

NOW = dt.datetime(2024, 11, 12, 9, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def order(order_id, purchased=NOW - 3 * DAY, promised=NOW + 2 * DAY, **extra):
    return {
        "order_id": order_id,
        "purchased_at": purchased.isoformat(),
        "promised_date": promised.date().isoformat(),
        "carrier": "Panda Post",
        "seller_id": "S1",
        "buyer_region": "SH",
        "seller_region": "GD",
        "price": 12.5,
        **extra,
    }


def event(order_id, when, kind="picked_up", location="GD"):
    return {
        "order_id": order_id,
        "time": when.isoformat(),
        "event_type": kind,
        "location": location,
    }


def suggestion(sid, order_id="A1", status="open", created=NOW, risk=0.8):
    facts = {"order_id": order_id, "carrier": "Panda Post", "last_event": "none"}
    return Suggestion(
        sid, order_id, risk, "shipping_delay", [], "草稿", "draft", created, status=status,
        facts=facts, model={"name": "risk", "version": "v1", "threshold": 0.5},
    )  # fmt: skip


def case_record(case_id, order_id="A1", suggestion_id="s1"):
    return CaseRecord(
        case_id, order_id, "shipping_delay", "text", "en", NOW, suggestion_id,
        "shipping_delay", 0.7, False, "cases", "v1",
    )  # fmt: skip


# -- orders and events -----------------------------------------------------------------------
def test_orders_round_trip_in_the_canonical_schema(store):
    orders = orders_from_records(
        [order("A1", ship_by=(NOW - DAY).isoformat()), order("A2", canceled=True, n_items=3)]
    )
    events = events_from_records(
        [event("A1", NOW - 2 * DAY, "label_created"), event("A1", NOW - DAY)], orders["order_id"]
    )
    saved = OrderStore(store).save(orders, events, NOW)
    assert saved.orders_new == 2 and saved.events_new == 2
    back, back_events = OrderStore(store).tables()
    back = back.sort_values("order_id", ignore_index=True)
    # text columns may come back as object where validation made pandas' str dtype: same values
    pd.testing.assert_frame_equal(back, orders, check_dtype=False)
    typed = ["purchased_at", "promised_date", "ship_by", "delivered_at", "n_items", "price"]
    assert back[typed + ["canceled"]].dtypes.equals(orders[typed + ["canceled"]].dtypes)
    pd.testing.assert_frame_equal(back_events, events, check_dtype=False)


def test_a_saved_order_replaces_the_stored_one_and_events_are_stored_once(store):
    orders = OrderStore(store)
    orders.save(orders_from_records([order("A1")]), None, NOW)
    delivered = orders_from_records([order("A1", delivered_at=(NOW - DAY).isoformat())])
    events = events_from_records([event("A1", NOW - DAY), event("A1", NOW - DAY)])
    saved = orders.save(delivered, events, NOW)
    assert (saved.orders_new, saved.orders_updated) == (0, 1)
    assert (saved.events_new, saved.events_duplicate) == (1, 1)  # a repeat in the same batch
    again = orders.save(None, events_from_records([event("A1", NOW - DAY)]), NOW)
    assert (again.events_new, again.events_duplicate) == (0, 1)
    back, back_events = orders.tables()
    assert back["delivered_at"].iloc[0] == pd.Timestamp(NOW - DAY) and len(back_events) == 1


def test_times_are_stored_to_the_microsecond_without_a_warning(store):
    order_ = order("A1", purchased=NOW - 3 * DAY)
    order_["purchased_at"] = "2024-11-09T09:00:00.123456789Z"  # nanoseconds: valid RFC 3339
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # pandas' "Discarding nonzero nanoseconds" is one
        OrderStore(store).save(orders_from_records([order_]), None, NOW)
    back, _ = OrderStore(store).tables()
    assert back.loc[0, "purchased_at"] == pd.Timestamp("2024-11-09T09:00:00.123456Z")


def test_save_is_all_or_nothing(store):
    orders = OrderStore(store)
    stray = events_from_records([event("NOT-STORED", NOW)])
    with pytest.raises(StoreError):  # the foreign key refuses an event of an unknown order
        orders.save(orders_from_records([order("A1")]), stray, NOW)
    assert orders.count() == 0


def test_tables_window_keeps_recent_and_named_orders(store):
    orders = OrderStore(store)
    old = NOW - 200 * DAY
    records = [order("OLD", purchased=old, promised=old + 5 * DAY), order("NEW")]
    orders.save(orders_from_records(records), None, NOW)
    assert list(orders.tables(since=NOW - 120 * DAY)[0]["order_id"]) == ["NEW"]
    both = orders.tables(since=NOW - 120 * DAY, include=["OLD"])[0]
    assert sorted(both["order_id"]) == ["NEW", "OLD"]
    assert orders.known(["OLD", "X"]) == {"OLD"}


def test_every_save_that_changes_something_takes_the_next_version(store):
    orders = OrderStore(store)
    assert orders.version() == 0
    orders.save(orders_from_records([order("A1"), order("A2")]), None, NOW)
    assert orders.version() == 1
    orders.save(None, events_from_records([event("A2", NOW - DAY)]), NOW)  # A2's event: A2
    assert orders.version() == 2
    changed, changed_events = orders.changed_since(1)
    assert list(changed["order_id"]) == ["A2"] and list(changed_events["order_id"]) == ["A2"]
    assert orders.changed_since(2)[0].empty
    orders.save(None, events_from_records([event("A2", NOW - DAY)]), NOW)  # a duplicate only
    assert orders.changed_since(2)[0].empty
    both, _ = orders.changed_since(0)
    assert sorted(both["order_id"]) == ["A1", "A2"]
    found, found_events = orders.tables_of(["A2", "NOPE"])
    assert list(found["order_id"]) == ["A2"] and len(found_events) == 1


# -- suggestions and cases -------------------------------------------------------------------
def test_the_database_store_implements_the_protocol(store):
    suggestions = DatabaseSuggestionStore(store)
    assert isinstance(suggestions, SuggestionStore)
    first, second = suggestion("s1", created=NOW), suggestion("s2", "B1", created=NOW + DAY)
    suggestions.add(first)
    suggestions.add(second)
    assert suggestions.get("s1") == first and suggestions.get("nope") is None
    assert [s.suggestion_id for s in suggestions.list()] == ["s2", "s1"]  # newest first
    assert [s.suggestion_id for s in suggestions.list(limit=1, offset=1)] == ["s1"]
    assert [s.suggestion_id for s in suggestions.list(order_id="A1")] == ["s1"]
    assert suggestions.list(status="dismissed") == []
    assert suggestions.for_order("A1") == [first]
    with pytest.raises(InputError, match="unknown status"):
        suggestions.list(status="pending")


def test_one_open_suggestion_per_order_holds_in_the_database(store):
    """Even when the policy's check is bypassed (two workers at once), the index refuses."""
    suggestions = DatabaseSuggestionStore(store)
    suggestions.add(suggestion("s1"))
    with pytest.raises(ConflictError, match="open suggestion"):
        suggestions.add(suggestion("s2"))
    with pytest.raises(ConflictError, match="exists already"):
        suggestions.add(suggestion("s1", "B1"))
    suggestions.update(dataclasses.replace(suggestion("s1"), status="dismissed", decided_at=NOW))
    suggestions.add(suggestion("s2"))  # the first is no longer open
    assert [s.status for s in suggestions.for_order("A1")] == ["dismissed", "open"]


def test_decisions_are_final(store):
    suggestions = DatabaseSuggestionStore(store)
    suggestions.add(suggestion("s1"))
    policy = SuggestionPolicy(0.5)
    policy.dismiss(suggestions, "s1", now=NOW)
    with pytest.raises(ConflictError, match="already dismissed"):
        policy.accept(suggestions, "s1", case_id="c1")
    stale = dataclasses.replace(suggestion("s1"), status="accepted", case_id="c1")
    with pytest.raises(ConflictError, match="already dismissed"):
        suggestions.update(stale)  # a worker that read it before the dismissal
    with pytest.raises(NotFoundError):
        suggestions.update(suggestion("nope"))
    assert suggestions.get("s1").status == "dismissed"


@pytest.mark.parametrize("kind", ("memory", "database"))
def test_policy_rules_on_either_store(store, kind):
    from triage.orders.risk.scoring import RiskScore
    from triage.orders.suggestions.policy import InMemorySuggestionStore

    suggestions = InMemorySuggestionStore() if kind == "memory" else DatabaseSuggestionStore(store)
    facts = {"order_id": "A1", "promised_date": "2024-11-13", "carrier": "Panda Post"}
    score = RiskScore("A1", NOW.isoformat(), 0.9, True, "shipping_delay", [], facts)
    policy = SuggestionPolicy(0.5, cooldown=3 * DAY)
    [made] = policy.suggest([score, score], suggestions, now=NOW)  # one open per order
    assert policy.suggest([score], suggestions, now=NOW + DAY) == []
    policy.dismiss(suggestions, made.suggestion_id, now=NOW + DAY)
    assert policy.suggest([score], suggestions, now=NOW + 2 * DAY) == []  # cooldown
    assert len(policy.suggest([score], suggestions, now=NOW + 5 * DAY)) == 1
    assert policy.suggest([score], suggestions, has_case={"A1"}, now=NOW + 30 * DAY) == []


def test_accept_writes_the_case_and_the_prediction_with_the_decision(store):
    from triage.store import PredictionRecord

    suggestions = DatabaseSuggestionStore(store)
    suggestions.add(suggestion("s1"))
    logged = PredictionRecord("p1", NOW, "text", "en", "shipping_delay", 0.7, False, "cases", "v1")
    accepted = suggestions.accept("s1", case_record("c1"), logged)
    assert accepted.status == "accepted" and accepted.case_id == "c1"
    assert accepted.decided_at == NOW
    assert CaseStore(store).get("c1") == case_record("c1")
    assert store.get_prediction("p1")["category"] == "shipping_delay"
    assert CaseStore(store).for_orders(["A1", "B1"]) == {"A1"}
    with pytest.raises(ConflictError, match="already accepted"):
        suggestions.accept("s1", case_record("c2"))
    with pytest.raises(NotFoundError):
        suggestions.accept("nope", case_record("c3", suggestion_id="nope"))
    assert CaseStore(store).get("c2") is None and CaseStore(store).get("c3") is None


# -- the order service -----------------------------------------------------------------------
@pytest.fixture(params=[False, True], ids=["rebuilt", "cached"])
def service(store, request):
    """The order service, without and with the history cache: both must behave the same."""
    return OrderService(store, cooldown=3 * DAY, history_cache=request.param)


def test_ingest_stores_rescores_and_suggests_once(service, api_risk_scorer):
    late = order("LATE", purchased=NOW - 6 * DAY, promised=NOW - 2 * DAY)
    lost = order("LOST", purchased=NOW - 15 * DAY, promised=NOW - 8 * DAY)
    done = order("DONE", delivered_at=(NOW - DAY).isoformat())
    events = [event("LATE", NOW - 4 * DAY), event("LOST", NOW - 13 * DAY)]
    result = service.ingest(api_risk_scorer, [late, lost, done], events, NOW)
    assert (result.saved.orders_new, result.saved.events_new) == (3, 2)
    assert result.scored == 2 and result.flagged == 2  # DONE is delivered: not open
    made = {s.order_id: s for s in result.suggestions}
    assert made["LATE"].category == "shipping_delay" and made["LATE"].risk == 1.0
    assert made["LOST"].category == "not_received"  # handed over, a week past the promise
    assert "running late" in made["LATE"].draft_en and "lost" in made["LOST"].draft_en
    assert "LATE" in made["LATE"].draft_zh and "Panda Post" in made["LATE"].draft_en
    again = service.ingest(
        api_risk_scorer, events=[event("LATE", NOW - DAY, "in_transit")], now=NOW
    )
    assert again.saved.events_new == 1 and again.flagged == 1 and again.suggestions == []


def test_ingest_refuses_bad_batches_whole(service, api_risk_scorer):
    bad = order("B2", purchased=NOW, promised=NOW - 5 * DAY)
    with pytest.raises(DataFileError, match="promised before they were purchased"):
        service.ingest(api_risk_scorer, [order("B1"), bad], now=NOW)
    with pytest.raises(DataFileError, match="not in the orders table"):
        service.ingest(api_risk_scorer, [order("B1")], [event("ELSEWHERE", NOW)], now=NOW)
    assert service.orders.count() == 0
    with pytest.raises(InputError, match="nothing to ingest"):
        service.ingest(api_risk_scorer, now=NOW)


def test_score_stores_nothing_and_given_orders_replace_stored_ones(service, api_risk_scorer):
    late = order("A1", purchased=NOW - 6 * DAY, promised=NOW - 2 * DAY)
    service.orders.save(orders_from_records([late]), None, NOW)
    delivered = {**late, "delivered_at": (NOW - DAY).isoformat()}
    when, [(order_id, risk)] = service.score(api_risk_scorer, [delivered], [], as_of=NOW)
    assert order_id == "A1" and risk is None and when == NOW  # delivered in the given record
    _, [(_, risk)] = service.score(api_risk_scorer, [late], [], as_of=NOW)
    assert risk.risk == 1.0 and risk.reasons[0]["factor"] == "promise_broken"
    assert service.suggestions.list() == [] and service.orders.count() == 1
    with pytest.raises(InputError, match="as_of"):
        service.score(api_risk_scorer, [late], [], as_of="yesterday")


def test_accept_and_dismiss(service, api_risk_scorer, api_router):
    late = [order(f"L{i}", purchased=NOW - 6 * DAY, promised=NOW - 2 * DAY) for i in range(3)]
    made = service.ingest(api_risk_scorer, late, now=NOW).suggestions
    first, second, third = sorted(made, key=lambda s: s.order_id)
    accepted, case, prediction = service.accept(api_router, first.suggestion_id, now=NOW)
    assert accepted.status == "accepted" and accepted.case_id == case.id
    assert case.text == first.draft_zh and case.language == "zh"
    assert case.category == first.category and case.predicted_category == prediction.category
    _, english, _ = service.accept(api_router, second.suggestion_id, language="en", now=NOW)
    assert english.text == second.draft_en
    with pytest.raises(InputError, match="drafts are in zh and en"):
        service.accept(api_router, third.suggestion_id, language="mixed")
    with pytest.raises(ConflictError, match="already accepted"):
        service.dismiss(first.suggestion_id)
    assert service.dismiss(third.suggestion_id, now=NOW).status == "dismissed"
    with pytest.raises(ConflictError, match="already dismissed"):
        service.accept(api_router, third.suggestion_id)
    with pytest.raises(NotFoundError, match="no suggestion"):
        service.dismiss("sug_missing")
    # a case blocks new suggestions for good, a dismissal for the cooldown
    later = service.ingest(api_risk_scorer, late, now=NOW + DAY)
    assert later.flagged == 3 and later.suggestions == []
    after = service.ingest(api_risk_scorer, late, now=NOW + 4 * DAY)
    assert [s.order_id for s in after.suggestions] == [third.order_id]


def test_demo_orders_load_once_open_now(service, api_risk_scorer):
    now = utcnow()
    loaded = service.load_demo(api_risk_scorer, now=now)
    assert loaded.orders == 3000 and loaded.scored > 100 and loaded.suggestions
    assert loaded.flagged >= len(loaded.suggestions)
    orders, events = service.orders.tables()
    assert events["time"].max() <= pd.Timestamp(now)
    assert orders["purchased_at"].max() >= pd.Timestamp(now) - 2 * DAY  # a day of purchases
    assert len(service.suggestions.list(status="open", limit=1000)) == len(loaded.suggestions)
    assert service.load_demo(api_risk_scorer, now=now) is None


# -- commands --------------------------------------------------------------------------------
@pytest.fixture
def workspace(tmp_path, api_models_dir, api_risk_scorer):
    """A registry with the tiny case and risk models, a risk model directory, open orders."""
    import shutil

    from triage.orders.data.files import write_order_tables
    from triage.orders.default import demo_open_orders
    from triage.registry import Registry, save_model_dir

    models = tmp_path / "models"
    shutil.copytree(api_models_dir, models, ignore=shutil.ignore_patterns(".lock"))
    registry = Registry(models)
    registry.promote("risk", registry.create("risk", api_risk_scorer.model, {"kind": "risk_model"}))
    save_model_dir(tmp_path / "risk_model", api_risk_scorer.model, {"kind": "risk_model"})
    orders, events, at = demo_open_orders(n_orders=600)
    write_order_tables(orders, events, tmp_path / "open.parquet")
    return tmp_path


def run(workspace, *args):
    return CliRunner().invoke(
        cli,
        ["--models-dir", str(workspace / "models"), *map(str, args)],
        catch_exceptions=False,
        env={"TRIAGE_DATA_DIR": str(workspace / "var")},
    )


def _stored(workspace):
    store = Store.from_settings(Settings.from_env({"data_dir": workspace / "var"}))
    return DatabaseSuggestionStore(store).list(limit=10_000)


def test_score_orders_stores_suggestions_once(workspace):
    args = (
        "score-orders",
        "--model",
        workspace / "risk_model",
        "--data",
        workspace / "open.parquet",
    )
    args += ("--events", workspace / "open.events.parquet")
    result = run(workspace, *args, "--no-store", "--out", workspace / "s.jsonl")
    assert result.exit_code == 0, result.output
    written = pd.read_json(workspace / "s.jsonl", lines=True)
    assert len(written) > 0 and "stored in" not in result.output
    assert not (workspace / "var" / "triage.db").exists()
    result = run(workspace, *args)
    assert result.exit_code == 0 and "stored in sqlite:///" in result.output, result.output
    stored = _stored(workspace)
    assert sorted(s.order_id for s in stored) == sorted(written["order_id"])
    again = run(workspace, *args)
    assert " 0 suggestions stored" in again.output  # one open suggestion per order
    assert len(_stored(workspace)) == len(stored)


def test_bootstrap_loads_demo_orders_once(workspace):
    first = run(workspace, "bootstrap", "--demo-orders")
    assert first.exit_code == 0, first.output
    assert "demo orders: loaded 3000 simulated orders" in first.output
    assert len(_stored(workspace)) > 0
    second = run(workspace, "bootstrap", "--demo-orders")
    assert "the database has orders already; none loaded" in second.output
    with Store.from_settings(
        Settings.from_env({"data_dir": workspace / "var"})
    ).engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM orders")).scalar_one() == 3000


def test_suggestions_of_orders_that_are_no_longer_open_are_closed(service, api_risk_scorer):
    late = [order(f"K{i}", purchased=NOW - 6 * DAY, promised=NOW - 2 * DAY) for i in range(4)]
    made = service.ingest(api_risk_scorer, late, now=NOW).suggestions
    assert len(made) == 4 and service.suggestions.open_orders() == {"K0", "K1", "K2", "K3"}
    later = NOW + DAY
    # delivered (as a record, and as an event) or canceled: resolved
    done = [
        {**late[0], "delivered_at": later.isoformat()},
        {**late[1], "canceled": True},
    ]
    result = service.ingest(api_risk_scorer, done, [event("K2", later, "delivered")], later)
    assert sorted((s.order_id, s.status) for s in result.closed) == [
        ("K0", "resolved"),
        ("K1", "resolved"),
        ("K2", "resolved"),
    ]
    assert all(s.decided_at == later for s in result.closed) and result.suggestions == []
    # more than 30 days past its promise, still undelivered: expired when it is re-scored
    much_later = NOW + 40 * DAY
    expired = service.ingest(api_risk_scorer, events=[event("K3", much_later)], now=much_later)
    assert [(s.order_id, s.status) for s in expired.closed] == [("K3", "expired")]
    assert service.suggestions.open_orders() == set()
    statuses = {s.order_id: s.status for s in service.suggestions.list()}
    assert statuses == {"K0": "resolved", "K1": "resolved", "K2": "resolved", "K3": "expired"}
    # closing is final like any decision, and only the service closes as resolved/expired
    with pytest.raises(ConflictError, match="already resolved"):
        service.dismiss(made[0].suggestion_id)
    with pytest.raises(InputError, match="closed as resolved or expired"):
        service.suggestions.close(["K0"], "dismissed", NOW)


def test_an_open_order_keeps_its_suggestion(service, api_risk_scorer):
    late = order("OPEN", purchased=NOW - 6 * DAY, promised=NOW - 2 * DAY)
    [made] = service.ingest(api_risk_scorer, [late], now=NOW).suggestions
    again = service.ingest(api_risk_scorer, events=[event("OPEN", NOW)], now=NOW)
    assert again.closed == [] and service.suggestions.get(made.suggestion_id).status == "open"
    assert service.close_settled(None, NOW) == []
