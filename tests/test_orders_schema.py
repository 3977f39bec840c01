"""The order and event schema: clean tables in, one clear error for each kind of bad input."""

import pandas as pd
import pytest

from triage.errors import DataFileError
from triage.orders.schema import (
    ORDER_COLUMNS,
    events_from_records,
    orders_from_records,
    validate_events,
    validate_orders,
)


def _orders(**overrides):
    frame = pd.DataFrame(
        {
            "order_id": ["007", "008"],
            "purchased_at": ["2024-03-01T10:00:00", "2024-03-01 12:30:00+08:00"],
            "promised_date": ["2024-03-06", "2024-03-07"],
            "carrier": ["Panda Post", None],
            "weight_kg": ["1.5", ""],
        }
    )
    for key, value in overrides.items():
        frame[key] = value
    return frame


def test_valid_orders_are_canonical_and_utc():
    orders = validate_orders(_orders())
    assert list(orders.columns) == list(ORDER_COLUMNS)
    assert orders["order_id"].tolist() == ["007", "008"]  # ids stay text, leading zeros kept
    assert str(orders["purchased_at"].dt.tz) == "UTC"
    assert orders["purchased_at"].iloc[1] == pd.Timestamp("2024-03-01T04:30:00Z")
    assert orders["promised_date"].iloc[0] == pd.Timestamp("2024-03-06T00:00:00Z")
    assert orders["carrier"].tolist() == ["Panda Post", "unknown"]
    assert orders["weight_kg"].iloc[0] == 1.5 and pd.isna(orders["weight_kg"].iloc[1])
    assert orders["n_items"].tolist() == [1, 1]
    assert not orders["canceled"].any()


@pytest.mark.parametrize(
    ("change", "message"),
    (
        ({"order_id": ["1", "1"]}, "duplicate order_id"),
        ({"order_id": ["1", " "]}, "empty value"),
        (
            {"purchased_at": ["yesterday", "2024-03-01"]},
            "'purchased_at' has 1 value.*not dates.*row 1",
        ),
        ({"promised_date": ["2024-03-06", None]}, "empty value.*'promised_date'"),
        ({"promised_date": ["2024-02-01", "2024-03-07"]}, "promised before they were purchased"),
        ({"delivered_at": ["2024-02-01", None]}, "delivered before they were purchased"),
        ({"weight_kg": ["heavy", "1"]}, "'weight_kg' has 1 non-numeric"),
        ({"price": ["-3", "1"]}, "'price' has 1 negative"),
        ({"canceled": ["maybe", "no"]}, "'canceled' must be true/false"),
        ({"order_id": [1.0, 2.0]}, "read as numbers; ids must be text"),
    ),
)
def test_bad_orders_raise_one_clear_error(change, message):
    with pytest.raises(DataFileError, match=message):
        validate_orders(_orders(**change), where="orders.csv")


def test_missing_required_columns_are_named():
    with pytest.raises(DataFileError, match="missing column.*promised_date"):
        validate_orders(pd.DataFrame({"order_id": ["1"], "purchased_at": ["2024-01-01"]}))
    with pytest.raises(DataFileError, match="no orders"):
        validate_orders(pd.DataFrame(columns=["order_id", "purchased_at", "promised_date"]))


def test_events_are_validated_and_sorted():
    events = validate_events(
        pd.DataFrame(
            {
                "order_id": ["008", "007", "007"],
                "time": ["2024-03-02T09:00Z", "2024-03-03T09:00Z", "2024-03-02T09:00Z"],
                "event_type": ["Picked_Up", "in_transit", "picked_up"],
            }
        ),
        order_ids=["007", "008"],
    )
    assert events["order_id"].tolist() == ["007", "007", "008"]
    assert events["event_type"].tolist() == ["picked_up", "in_transit", "picked_up"]
    assert events["location"].tolist() == ["", "", ""]


@pytest.mark.parametrize(
    ("frame", "message"),
    (
        (
            {"order_id": ["1"], "time": ["2024-03-02"], "event_type": ["teleported"]},
            "unknown event_type.*teleported.*allowed: label_created",
        ),
        ({"order_id": ["1"], "time": ["soon"], "event_type": ["in_transit"]}, "'time'.*not dates"),
        ({"order_id": ["1"], "time": [None], "event_type": ["in_transit"]}, "without a time"),
        (
            {"order_id": ["9"], "time": ["2024-03-02"], "event_type": ["in_transit"]},
            "not in the orders table",
        ),
        (
            {"order_id": ["1"], "when": ["2024-03-02"], "event_type": ["in_transit"]},
            "missing column.*time",
        ),
    ),
)
def test_bad_events_raise_one_clear_error(frame, message):
    with pytest.raises(DataFileError, match=message):
        validate_events(pd.DataFrame(frame), order_ids=["1"])


def test_records_helpers_validate_request_bodies():
    orders = orders_from_records(
        [{"order_id": "A1", "purchased_at": "2024-01-01T08:00:00Z", "promised_date": "2024-01-05"}]
    )
    assert orders["order_id"].tolist() == ["A1"]
    events = events_from_records([], order_ids=["A1"])
    assert events.empty and list(events.columns) == ["order_id", "time", "event_type", "location"]
    with pytest.raises(DataFileError, match="no orders"):
        orders_from_records([])
    with pytest.raises(DataFileError, match="must be an object"):
        orders_from_records(["A1"])
