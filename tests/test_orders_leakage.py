"""THE no-leakage test: no feature reads the delivery time or any outcome after the decision time.

For several cut-off times T, every snapshot taken at or before T must get exactly the same
features when everything after T is changed: deliveries moved later or removed, later events
dropped, moved, retyped or invented, later purchases moved and re-routed, and every order's
`canceled` flag flipped at random. The same features must also come out of the tables
censored at T (as they stood at T). The test checks that its perturbation really changes the
outcomes, so it would catch a feature that peeks.
"""

import numpy as np
import pandas as pd
import pytest

from tests.conftest import DATASETS, needs_datasets
from triage.orders.data.fields import EVENT_TYPES
from triage.orders.data.schema import validate_events, validate_orders
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.snapshots import censor, decision_snapshots, delivery_times, late_labels

DAY = pd.Timedelta(days=1)


def perturb_after(orders: pd.DataFrame, events: pd.DataFrame, at: pd.Timestamp, seed: int):
    """Change everything that happens after `at`; leave everything at or before it alone."""
    rng = np.random.default_rng(seed)
    orders = orders.copy()
    n = len(orders)
    future_order = (orders["purchased_at"] > at).to_numpy()
    shift = pd.to_timedelta(rng.uniform(0, 5, n), unit="D").where(future_order, pd.Timedelta(0))
    orders["purchased_at"] = orders["purchased_at"] + shift
    orders["promised_date"] = (orders["promised_date"] + shift).dt.floor("D")
    orders["ship_by"] = orders["ship_by"] + shift
    for column in ("carrier", "seller_id", "buyer_region"):
        shuffled = rng.permutation(orders[column].to_numpy())
        orders[column] = np.where(future_order, shuffled, orders[column].to_numpy())
    later = (orders["delivered_at"] > at).to_numpy() | future_order
    moved = orders["purchased_at"] + pd.to_timedelta(rng.uniform(0.5, 15, n), unit="D")
    gone = rng.random(n) < 0.3
    new_delivery = moved.where(~gone)
    orders["delivered_at"] = orders["delivered_at"].where(~later, new_delivery)
    orders["delivered_at"] = orders["delivered_at"].where(
        orders["delivered_at"].isna() | (orders["delivered_at"] > at) | ~later
    )
    orders["canceled"] = rng.random(n) < 0.5  # never a feature

    future = events["time"] > at
    kept = events[future & (rng.random(len(events)) < 0.7)].copy()
    kept["time"] = kept["time"] + pd.to_timedelta(rng.uniform(0, 3, len(kept)), unit="D")
    kept["event_type"] = rng.choice(EVENT_TYPES, len(kept))
    invented = pd.DataFrame(
        {
            "order_id": rng.choice(orders["order_id"].to_numpy(), 500),
            "time": at + pd.to_timedelta(rng.uniform(1e-4, 10, 500), unit="D"),
            "event_type": rng.choice(EVENT_TYPES, 500),
            "location": "nowhere",
        }
    )
    purchase = orders.set_index("order_id")["purchased_at"]
    invented = invented[invented["time"] > invented["order_id"].map(purchase)]
    events = pd.concat([events[~future], kept, invented], ignore_index=True)
    return validate_orders(orders), validate_events(events, orders["order_id"])


def _snapshots_until(orders, events, at):
    snaps = decision_snapshots(orders, events)
    return snaps[snaps["as_of"] <= at].reset_index(drop=True)


def _check_no_leak(orders, events, cutoffs):
    full = OrderFeatures(orders, events)
    for i, at in enumerate(pd.to_datetime(cutoffs, utc=True)):
        snaps = _snapshots_until(orders, events, at)
        assert set(snaps["point"]) == {"purchase", "handover", "open_daily"}
        rows = snaps["row"].to_numpy()
        expected = full.build(rows, snaps["as_of"])

        p_orders, p_events = perturb_after(orders, events, at, seed=i)
        # the perturbation must really change outcomes of these very orders...
        assert (
            delivery_times(p_orders, p_events)[rows] != delivery_times(orders, events)[rows]
        ).any()
        before, after = late_labels(orders, events)[rows], late_labels(p_orders, p_events)[rows]
        assert (np.nan_to_num(before, nan=-1) != np.nan_to_num(after, nan=-1)).mean() > 0.05
        # ...yet the snapshots taken by T and all their features stay the same
        pd.testing.assert_frame_equal(_snapshots_until(p_orders, p_events, at), snaps)
        pd.testing.assert_frame_equal(
            OrderFeatures(p_orders, p_events).build(rows, snaps["as_of"]), expected
        )

        c_orders, c_events = censor(orders, events, at)
        position = pd.Series(np.arange(len(c_orders)), index=c_orders["order_id"])
        c_rows = position.loc[snaps["order_id"]].to_numpy()
        pd.testing.assert_frame_equal(
            OrderFeatures(c_orders, c_events).build(c_rows, snaps["as_of"]), expected
        )


def test_no_feature_reads_anything_after_the_decision_time():
    sim = simulate_marketplace(3_000, seed=5, start="2024-11-01", days=30)
    _check_no_leak(
        sim.orders,
        sim.events,
        ["2024-11-09T00:00:00Z", "2024-11-14T06:30:00Z", "2024-11-24T17:00:05Z"],
    )


@pytest.mark.datasets
@needs_datasets("olist", "orders.csv")
def test_no_leak_on_olist_derived_events():
    from triage.orders.data.olist import load_olist

    data = load_olist(DATASETS / "olist")
    _check_no_leak(data.orders, data.events, ["2017-06-15T12:00:00Z", "2017-11-24T00:00:00Z"])
