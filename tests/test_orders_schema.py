"""The order and event schema: clean tables in, one clear error for each kind of bad input."""

import numpy as np
import pandas as pd
import pytest

from triage.errors import DataFileError
from triage.orders.data.fields import ORDER_COLUMNS
from triage.orders.data.records import small_events, small_orders
from triage.orders.data.schema import (
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


# -- small batches of records take a faster path to the same tables -----------------------------
def _random_records(rng, n):
    """Records as JSON bodies send them, now and then with values the fast path must refuse."""
    times = ["2024-03-01T10:00:00Z", "2024-03-01 12:30:00+08:00", "2024-03-02T23:59:59.5-03:00",
             "2024-03-02", "2024-03-01T10:00", " 2024-03-03T01:02:03 ", "", None]  # fmt: skip
    odd = ["yesterday", 12, "2024-13-01", "2024/03/01", "1709280000", True, "2024-03-01T10:00:00.1234567Z"]  # fmt: skip
    texts = ["Panda Post", "  GD ", "", None, "测试", "unknown"]
    records = []
    for i in range(n):
        record = {
            "order_id": rng.choice([f"A{i}", f" A{i} ", f"A{i % 3}"], p=[0.8, 0.15, 0.05]),
            "purchased_at": rng.choice(times[:6]),
            "promised_date": rng.choice(
                ["2024-03-05", "2024-03-09T00:00:00Z", "2024-02-20"], p=[0.5, 0.45, 0.05]
            ),  # fmt: skip
        }
        for name in ("ship_by", "delivered_at"):
            if rng.random() < 0.5:
                record[name] = rng.choice(times)
        for name in ("seller_id", "carrier", "buyer_region", "category"):
            if rng.random() < 0.6:
                record[name] = rng.choice(texts)
        for name, values in (
            ("n_items", [1, 2, 0, 3.0, 2.5, None]),
            ("price", [12.5, 0, 3, None, float("nan")]),
            ("weight_kg", [0.4, 1, None]),
            ("canceled", [True, False, None]),
        ):
            if rng.random() < 0.5:
                record[name] = values[rng.integers(len(values))]
        if rng.random() < 0.05:
            record[rng.choice(["purchased_at", "price", "canceled", "carrier", "n_items"])] = odd[
                rng.integers(len(odd))
            ]
        if rng.random() < 0.03:
            record["price"] = -1.0
        records.append(record)
    return records


def _outcome(function, *args):
    try:
        return function(*args)
    except DataFileError as exc:
        return str(exc)


def test_small_record_batches_give_the_tables_of_the_column_checks():
    rng = np.random.default_rng(0)
    took_small, refused = 0, 0
    for trial in range(300):
        records = _random_records(rng, int(rng.integers(1, 6)))
        fast = _outcome(orders_from_records, records)
        slow = _outcome(validate_orders, pd.DataFrame.from_records(records))
        if isinstance(slow, str):
            assert fast == slow, (trial, records)
            refused += 1
            continue
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        took_small += small_orders(records) is not None
    assert took_small > 100 and refused > 20


def test_small_event_batches_give_the_tables_of_the_column_checks():
    rng = np.random.default_rng(1)
    kinds = ["picked_up", " In_Transit ", "delivered", "teleported", None]
    took_small = 0
    for trial in range(200):
        records = [
            {
                "order_id": rng.choice(["A1", "A2", " A1", "B9"]),
                "time": rng.choice(
                    ["2024-03-02T08:00:00Z", "2024-03-01 09:00", "2024-03-02", "", "not a time"],
                    p=[0.4, 0.3, 0.2, 0.05, 0.05],
                ),  # fmt: skip
                "event_type": kinds[rng.choice(5, p=[0.4, 0.3, 0.2, 0.05, 0.05])],
                **(
                    {"location": rng.choice(["GD", " ZJ ", "", None])} if rng.random() < 0.7 else {}
                ),
            }
            for _ in range(int(rng.integers(1, 5)))
        ]
        known = ["A1", "A2"] if rng.random() < 0.8 else None
        fast = _outcome(events_from_records, records, known)
        slow = _outcome(validate_events, pd.DataFrame.from_records(records), known)
        if isinstance(slow, str):
            assert fast == slow, (trial, records)
            continue
        pd.testing.assert_frame_equal(fast, slow, check_exact=True)
        took_small += small_events(records, None if known is None else set(known)) is not None
    assert took_small > 50
