"""The fast path gives the features and scores of the full rebuild, exactly.

`HistoryCache` keeps the stored orders' history in memory and follows the database by data
version; history is additive with integer sums (triage.orders.risk.history). Here a simulated
marketplace is stored as it stood at T0, then grows and changes day by day while orders leave
a short history window; at every step the features of stored and new orders computed with the
cache must equal those of OrderFeatures rebuilt over the same tables, bit for bit, and the
service's risk scores must be the same with and without the cache.
"""

import datetime as dt

import numpy as np
import pandas as pd
import pytest

from triage.config import Settings
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history import History, Ledger, SignedHistory, Vocabulary
from triage.orders.risk.history_cache import HistoryCache
from triage.orders.risk.scoring import RiskScorer
from triage.orders.risk.snapshots import censor, seconds
from triage.orders.service import OrderService
from triage.store import Store

DAY = pd.Timedelta(days=1)
WINDOW_DAYS = 12  # short, so that orders leave the window between the steps
T0 = pd.Timestamp("2024-11-10T09:30:00Z")


@pytest.fixture(scope="module")
def sim():
    return simulate_marketplace(2_500, seed=11, start="2024-10-20", days=40)


@pytest.fixture
def store(tmp_path):
    store = Store.from_settings(Settings.from_env({"data_dir": tmp_path / "var"}))
    store.migrate()
    return store


class Clock:
    """The time the cache believes it is (its rebuild age is measured with it)."""

    def __init__(self, now: pd.Timestamp):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now.to_pydatetime()


def save_changes(service: OrderService, sim, before: pd.Timestamp, at: pd.Timestamp) -> list:
    """Store what happened in (before, at]: new orders, deliveries, events. Returns the ids of
    the orders written."""
    old, _ = censor(sim.orders, sim.events, before)
    now, events = censor(sim.orders, sim.events, at)
    previous = old.set_index("order_id")["delivered_at"]
    delivered_before = now["order_id"].map(previous)
    changed = ~now["order_id"].isin(old["order_id"]) | (
        now["delivered_at"].notna() & delivered_before.isna()
    )
    fresh_events = events[events["time"] > before]
    written = now[changed | now["order_id"].isin(fresh_events["order_id"])]
    service.orders.save(written.reset_index(drop=True), fresh_events.reset_index(drop=True), at)
    return written["order_id"].tolist()


def rebuilt(service, given, given_events, when, window_days=WINDOW_DAYS):
    """What the service's full path scores against: the stored window, the given orders
    replacing stored ones of the same id."""
    history, history_events = service.orders.tables(since=when - pd.Timedelta(days=window_days))
    ids = given["order_id"]
    every = pd.concat([history[~history["order_id"].isin(ids)], given], ignore_index=True)
    every_events = pd.concat(
        [history_events[~history_events["order_id"].isin(ids)], given_events], ignore_index=True
    ).sort_values(["order_id", "time"], kind="stable", ignore_index=True)
    return every, every_events


def assert_same_features(service, cache, given, given_events, when, fast=None):
    """The cache's features of `given` (`fast`, or asked now) equal the full rebuild's, at
    several times up to `when`."""
    fast = fast or cache.features(given, given_events, when.to_pydatetime())
    assert fast is not None
    every, every_events = rebuilt(service, given, given_events, when)
    full = OrderFeatures(every, every_events)
    position = pd.Series(np.arange(len(every)), index=every["order_id"])
    rows = np.arange(len(given))
    times = np.full(len(given), int(when.timestamp()), np.int64)
    for back in (0, 1, 3):  # the history as of earlier times too (still in the window)
        expected = full.build(position.loc[given["order_id"]].to_numpy(), times - back * 86_400)
        got = fast.build(rows, times - back * 86_400)
        pd.testing.assert_frame_equal(got, expected, check_exact=True)
    return fast


def sample_stored(service, when, n, seed):
    orders, events = service.orders.tables(since=when - pd.Timedelta(days=WINDOW_DAYS))
    open_ = orders[orders["delivered_at"].isna()]
    chosen = open_.sample(min(n, len(open_)), random_state=seed)["order_id"]
    return service.orders.tables_of(chosen)


def test_signed_history_is_the_history_of_the_set_it_describes(sim):
    vocabulary = Vocabulary()
    ledger = Ledger.from_tables(sim.orders, sim.events, vocabulary)
    rng = np.random.default_rng(0)
    left_out = rng.random(len(ledger)) < 0.3
    extra = rng.random(len(ledger)) < 0.1  # counted twice: added once more
    signed = SignedHistory(
        [
            (1, History(ledger)),
            (-1, History(ledger.take(left_out))),
            (1, History(ledger.take(extra))),
        ]
    )
    direct = History(Ledger.concat([ledger.take(~left_out), ledger.take(extra)]))
    times = seconds(sim.orders["purchased_at"])[:500] + 3 * 86_400
    keys = ledger.seller[:500]
    for name in ("outcome_seller", "handling_seller", "transit_platform", "exceed_region"):
        for got, expected in zip(
            signed.count(name, keys, times), direct.count(name, keys, times), strict=True
        ):
            np.testing.assert_array_equal(got, expected)
    np.testing.assert_array_equal(
        signed.purchases(times - 7 * 86_400, times), direct.purchases(times - 7 * 86_400, times)
    )


@pytest.mark.parametrize("fold_after", [3, 100_000], ids=["fold-often", "never-fold"])
def test_cache_gives_the_rebuilt_features_as_the_store_changes(sim, store, fold_after):
    service = OrderService(store, history_days=WINDOW_DAYS)
    clock = Clock(T0)
    cache = HistoryCache(
        service.orders,
        history_days=WINDOW_DAYS,
        max_changed=100_000,  # follow every change by version, no rebuild...
        fold_after=fold_after,
        rebuild_after=dt.timedelta(days=30),  # ...and let orders age out of the base
        clock=clock,
    )
    orders, events = censor(sim.orders, sim.events, T0)
    service.orders.save(orders, events, T0)
    when = T0
    for step in range(4):
        given, given_events = sample_stored(service, when, 150, seed=step)
        assert_same_features(service, cache, given, given_events, when)

        # orders sent with the request replace stored ones: other route, no events, new ids
        changed = given.head(20).copy()
        changed["carrier"] = changed["carrier"].iloc[::-1].to_numpy()
        changed["seller_id"] = "S-NEW"
        new = given.tail(5).copy()
        new["order_id"] = new["order_id"] + "-new"
        mixed = pd.concat([changed, new], ignore_index=True)
        no_events = given_events.iloc[0:0]
        assert_same_features(service, cache, mixed, no_events, when)

        later = when + 2 * DAY + pd.Timedelta(hours=5)
        written = save_changes(service, sim, when, later)
        when = later
        clock.now = later
        # the orders just written, as re-scoring after an ingest takes them (from the sync)
        stored, stored_events, fast = cache.stored(written[:40], when.to_pydatetime())
        expected_orders, expected_events = service.orders.tables_of(written[:40])
        pd.testing.assert_frame_equal(stored, expected_orders, check_exact=True)
        pd.testing.assert_frame_equal(stored_events, expected_events, check_exact=True)
        assert_same_features(service, cache, stored, stored_events, when, fast=fast)
        given, given_events = sample_stored(service, when, 150, seed=10 + step)
        assert_same_features(service, cache, given, given_events, when)
        # orders stored before the cache, changed in that step, change once more on their own:
        # each layer overrides the one below (base, settled and fresh all hold them)
        stored, _ = service.orders.tables(since=when - pd.Timedelta(days=WINDOW_DAYS))
        moved = stored[(stored["delivered_at"] > when - 2 * DAY) & (stored["purchased_at"] < T0)]
        moved = moved.head(3).assign(seller_id="S-MOVED", carrier="Moved Post")
        assert len(moved) == 3
        service.orders.save(moved.reset_index(drop=True), None, when)
    assert cache.builds == 1  # every step after the first followed the versions


def test_rebuilds_and_requests_in_the_past(sim, store):
    service = OrderService(store, history_days=WINDOW_DAYS)
    clock = Clock(T0)
    cache = HistoryCache(service.orders, history_days=WINDOW_DAYS, max_changed=50, clock=clock)
    orders, events = censor(sim.orders, sim.events, T0)
    service.orders.save(orders, events, T0)
    given, given_events = sample_stored(service, T0, 40, seed=1)
    assert_same_features(service, cache, given, given_events, T0)
    assert cache.builds == 1
    later = T0 + DAY
    assert len(save_changes(service, sim, T0, later)) > 50  # more changes than max_changed
    clock.now = later
    given, given_events = sample_stored(service, later, 40, seed=2)
    assert_same_features(service, cache, given, given_events, later)
    assert cache.builds == 2
    clock.now = later + pd.Timedelta(hours=2)  # older than rebuild_after (1 hour)
    assert_same_features(service, cache, given, given_events, later + pd.Timedelta(hours=2))
    assert cache.builds == 3
    # a window starting before the base's: no cache (the service rebuilds from the database)
    assert cache.features(given, given_events, (T0 - 3 * DAY).to_pydatetime()) is None


def test_service_scores_are_the_same_with_and_without_the_cache(sim, store, api_risk_scorer):
    plain = OrderService(store, history_days=WINDOW_DAYS)
    cached = OrderService(store, history_days=WINDOW_DAYS, history_cache=True)
    orders, events = censor(sim.orders, sim.events, T0)
    plain.orders.save(orders, events, T0)
    given, given_events = sample_stored(plain, T0, 60, seed=3)
    records = [
        {k: (v.isoformat() if isinstance(v, pd.Timestamp) else v) for k, v in r.items()}
        for r in given.replace({np.nan: None}).to_dict("records")
    ]
    event_records = [{**r, "time": r["time"].isoformat()} for r in given_events.to_dict("records")]
    for when in (T0, T0 - pd.Timedelta(days=4)):  # the second one is past the cache's window
        _, a = plain.score(api_risk_scorer, records, event_records, as_of=when)
        _, b = cached.score(api_risk_scorer, records, event_records, as_of=when)
        assert a == b and sum(s is not None for _, s in a) > 20
    scorer = RiskScorer(api_risk_scorer.model, version="v", threshold=0.0)  # flag everything
    made = cached.ingest(scorer, events=event_records[:5], now=T0.to_pydatetime())
    assert made.scored >= 1 and made.suggestions
