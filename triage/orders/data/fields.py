"""The fields of an order and of a tracking event: the names every other module derives from.

triage.orders.data.schema validates tables with them, triage.orders.data.records builds small
tables with them, and the database table (triage/store_tables.py) and the API's JSON Schemas
(api/schemas/orders.py) are derived from them. Nothing here imports pandas.
"""

from __future__ import annotations

__all__ = [
    "EARLIEST_YEAR",
    "EVENT_COLUMNS",
    "EVENT_TYPES",
    "LATEST_YEAR",
    "NUMBER_COLUMNS",
    "ORDER_COLUMNS",
    "TEXT_COLUMNS",
    "TIME_COLUMNS",
    "UNKNOWN",
]

EVENT_TYPES = (
    "label_created",
    "picked_up",
    "in_transit",
    "arrived_at_hub",
    "out_for_delivery",
    "delivered",
    "exception",
)
TEXT_COLUMNS = (
    "seller_id",
    "seller_region",
    "buyer_region",
    "carrier",
    "service_level",
    "category",
)
NUMBER_COLUMNS = ("weight_kg", "price", "freight", "distance_km")
TIME_COLUMNS = ("purchased_at", "promised_date", "ship_by", "delivered_at")
ORDER_COLUMNS = (
    "order_id",
    "purchased_at",
    "promised_date",
    "ship_by",
    *TEXT_COLUMNS,
    "n_items",
    *NUMBER_COLUMNS,
    "delivered_at",
    "canceled",
)
EVENT_COLUMNS = ("order_id", "time", "event_type", "location")
UNKNOWN = "unknown"
# times outside these years are refused as input errors: no marketplace order lives there, and
# pandas' nanosecond timestamps end in 1677 and 2262
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
