"""The fields of an order (`ORDER_FIELDS`, defined once) and of a tracking event.

triage.orders.data.schema validates tables with them, triage.orders.data.records builds small
tables with them, and the database table (triage/store_tables.py) and the API's JSON Schemas
(api/schemas/orders.py) are derived from them. Nothing here imports pandas.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "COUNT_COLUMNS",
    "DATE_COLUMNS",
    "FLAG_COLUMNS",
    "KINDS",
    "OPTIONAL_COLUMNS",
    "ORDER_FIELDS",
    "REQUIRED_COLUMNS",
    "Field",
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


@dataclass(frozen=True)
class Field:
    """One field of an order: its name, its kind, and what the edges make of it.

    Kinds: ``id`` (text, never blank), ``time`` (timezone-aware UTC), ``date`` (a day, stored
    as its midnight UTC), ``text`` (blank or absent -> "unknown"), ``count`` (an integer of at
    least 1, absent -> 1), ``number`` (a float >= 0, absent -> missing), ``flag`` (a boolean,
    absent -> false). A `required` field must be given; an `outcome` is only known after the
    fact (never a feature); `description` goes to the API's JSON Schema; `indexed` asks the
    database for an index.
    """

    name: str
    kind: str
    required: bool = False
    outcome: bool = False
    description: str = ""
    indexed: bool = False

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"field {self.name}: kind {self.kind!r} is not one of {KINDS}")


KINDS = ("id", "time", "date", "text", "count", "number", "flag")

#: The order, once. Adding a field here and one migration (triage/migrations/versions/) is all
#: it takes: validation, the small-record path, the database table, storage and the API's
#: JSON Schema follow (docs/ARCHITECTURE.md has the worked example; tests/test_order_fields.py
#: does it in a copy of the code).
ORDER_FIELDS: tuple[Field, ...] = (
    Field("order_id", "id", required=True),
    Field("purchased_at", "time", required=True, description="When the buyer paid.", indexed=True),
    Field(
        "promised_date",
        "date",
        required=True,
        description="The delivery date promised to the buyer (on time: delivered that day or "
        "before).",
    ),
    Field("ship_by", "time", description="The seller's hand-over deadline."),
    Field("seller_id", "text"),
    Field("seller_region", "text"),
    Field("buyer_region", "text"),
    Field("carrier", "text"),
    Field("service_level", "text"),
    Field("category", "text"),
    Field("n_items", "count"),
    Field("weight_kg", "number"),
    Field("price", "number"),
    Field("freight", "number"),
    Field("distance_km", "number"),
    Field(
        "delivered_at",
        "time",
        outcome=True,
        description="When the buyer received it (closes the order).",
    ),
    Field("canceled", "flag", outcome=True),
)


def _named(*kinds: str) -> tuple[str, ...]:
    return tuple(f.name for f in ORDER_FIELDS if f.kind in kinds)


ORDER_COLUMNS = tuple(f.name for f in ORDER_FIELDS)
REQUIRED_COLUMNS = tuple(f.name for f in ORDER_FIELDS if f.required)
#: what an order may come without and still be known before its outcome (seller, buyer, items,
#: carrier): an order without any of them is "bare" (Olist's orders table alone)
OPTIONAL_COLUMNS = tuple(f.name for f in ORDER_FIELDS if not f.required and not f.outcome)
TIME_COLUMNS = _named("time", "date")
DATE_COLUMNS = _named("date")
TEXT_COLUMNS = _named("text")
COUNT_COLUMNS = _named("count")
NUMBER_COLUMNS = _named("number")
FLAG_COLUMNS = _named("flag")

EVENT_COLUMNS = ("order_id", "time", "event_type", "location")
UNKNOWN = "unknown"
# times outside these years are refused as input errors: no marketplace order lives there, and
# pandas' nanosecond timestamps end in 1677 and 2262
EARLIEST_YEAR, LATEST_YEAR = 1900, 2200
