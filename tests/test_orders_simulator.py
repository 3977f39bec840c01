"""The marketplace simulator: reproducible, schema-valid, and late for reasons."""

import numpy as np
import pandas as pd
import pytest

from triage.errors import InputError
from triage.orders.data.schema import validate_events, validate_orders
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.snapshots import late_labels


@pytest.fixture(scope="module")
def sim():
    return simulate_marketplace(6_000, seed=11, start="2024-10-20", days=60)


def test_same_seed_same_tables_other_seed_other_tables(sim):
    again = simulate_marketplace(6_000, seed=11, start="2024-10-20", days=60)
    pd.testing.assert_frame_equal(sim.orders, again.orders)
    pd.testing.assert_frame_equal(sim.events, again.events)
    pd.testing.assert_frame_equal(sim.disruptions, again.disruptions)
    other = simulate_marketplace(6_000, seed=12, start="2024-10-20", days=60)
    assert not other.orders["delivered_at"].equals(sim.orders["delivered_at"])


def test_tables_pass_the_schema_and_events_follow_the_parcel(sim):
    pd.testing.assert_frame_equal(validate_orders(sim.orders), sim.orders, check_dtype=False)
    events = validate_events(sim.events, sim.orders["order_id"])
    assert len(events) == len(sim.events)
    delivered = events[events["event_type"] == "delivered"].set_index("order_id")["time"]
    assert (sim.orders.set_index("order_id")["delivered_at"].dropna() == delivered).all()
    # per order: label before pickup before delivery
    first = events.pivot_table(index="order_id", columns="event_type", values="time", aggfunc="min")
    both = first.dropna(subset=["label_created", "picked_up", "delivered"])
    assert (both["label_created"] <= both["picked_up"]).all()
    assert (both["picked_up"] < both["delivered"]).all()
    assert set(sim.orders.columns).isdisjoint({"late", "is_late", "label"})


def test_lateness_comes_from_the_mechanisms(sim):
    orders = sim.orders.assign(late=late_labels(sim.orders, sim.events))
    rate = orders.groupby("carrier")["late"].mean()
    assert 0.04 < orders["late"].mean() < 0.35
    # the slow, peak-sensitive carrier is late more often than the fast reliable one
    assert rate["Panda Post"] > rate["Zephyr Express"] + 0.05
    # remote destinations are late more often than the coastal hubs
    by_region = orders.groupby("buyer_region")["late"].mean()
    assert by_region[["XJ", "HL", "YN"]].mean() > by_region[["SH", "ZJ", "JS"]].mean()
    # storms leave exceptions behind and make the region's parcels late
    storm = sim.disruptions[sim.disruptions["kind"] == "storm"].iloc[0]
    start = storm["start"]
    during = orders["buyer_region"].eq(storm["region"]) & orders["purchased_at"].between(
        start - pd.Timedelta(days=3), start + pd.Timedelta(days=storm["days"])
    )
    assert orders.loc[during, "late"].mean() > orders["late"].mean()
    assert (sim.events["event_type"] == "exception").any()
    # the 11.11 peak brings more orders than an ordinary week
    per_day = orders.set_index("purchased_at").resample("D").size()
    assert (
        per_day["2024-11-08":"2024-11-12"].mean() > 1.5 * per_day["2024-10-21":"2024-10-27"].mean()
    )


def test_bad_arguments_are_refused():
    with pytest.raises(InputError, match="at least 10 orders"):
        simulate_marketplace(5)
    with pytest.raises(InputError, match="at least 7 days"):
        simulate_marketplace(100, days=3)
    small = simulate_marketplace(50, seed=1)
    assert (
        len(small.orders) == 50
        and np.isin(small.events["order_id"], small.orders["order_id"]).all()
    )


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n_orders", (10, 50))
def test_fewer_orders_than_days_simulate_cleanly(n_orders):
    """Most days without an order: the daily load stays finite (it once divided by a median
    of zero), and the tables still pass the schema."""
    small = simulate_marketplace(n_orders, seed=3, days=120)
    assert len(small.orders) == n_orders
    validate_orders(small.orders)
    delivered = small.orders["delivered_at"].dropna()
    assert (delivered >= small.orders.loc[delivered.index, "purchased_at"]).all()
