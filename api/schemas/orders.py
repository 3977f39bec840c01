"""The OpenAPI fragment of the orders resource (api/views/orders.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import NO_NUL, error_responses, json_body, json_response, ref
from triage.config import Settings
from triage.orders.data.fields import (
    EARLIEST_YEAR,
    EVENT_TYPES,
    LATEST_YEAR,
    ORDER_FIELDS,
    REQUIRED_COLUMNS,
    Field,
)

__all__ = ["openapi"]


EVENTS_PER_ORDER = 20  # the events limit of a body is this many per order of the batch limit
SUGGESTED_CATEGORIES = ["shipping_delay", "not_received"]


def _iso_time_pattern() -> str:
    """An ISO 8601 date or date-time that the order checks take: a real calendar day (leap
    years included) of the years 1900-2200 (triage.orders.data.schema's EARLIEST_YEAR, LATEST_YEAR),
    hours 00-23, minutes and seconds 00-59, an optional fraction and UTC offset. The years are
    checked in UTC, so on the first and last day of the range an offset may not move the time
    out of it: 1900-01-01 takes no offset ahead of UTC and 2200-12-31 none behind it (a few
    acceptable times of those two days are refused by the document, none is admitted that the
    code refuses). Digits are [0-9]: a regular expression's \\d takes any Unicode digit."""
    assert (EARLIEST_YEAR, LATEST_YEAR) == (1900, 2200), "update the pattern with the years"
    day31, day30, day28 = (
        r"(0[1-9]|[12][0-9]|3[01])",
        r"(0[1-9]|[12][0-9]|30)",
        r"(0[1-9]|1[0-9]|2[0-8])",
    )
    short = rf"(0[469]|11)-{day30}|02-{day28}"
    month_day = rf"((0[13578]|1[02])-{day31}|{short})"
    leap = r"((19|20|21)(0[48]|[2468][048]|[13579][26])|2000)"  # not 1900, 2100, 2200
    clock = r"[Tt ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,9})?)?"
    hours = r"([01][0-9]|2[0-3])(:?[0-5][0-9])?"
    # every day but the first and the last of the range: any offset
    days = (
        rf"(190[1-9]|19[1-9][0-9]|20[0-9][0-9]|21[0-9][0-9])-{month_day}|{leap}-02-29"
        rf"|1900-(01-(0[2-9]|[12][0-9]|3[01])|(0[3578]|1[02])-{day31}|{short})"
        rf"|2200-((0[13578]|10)-{day31}|12-(0[1-9]|[12][0-9]|30)|{short})"
    )
    anywhere = rf"({days})({clock}([Zz]|[+-]{hours})?)?"
    first = rf"1900-01-01({clock}([Zz]|-{hours}|\+00(:?00)?)?)?"
    last = rf"2200-12-31({clock}([Zz]|\+{hours}|-00(:?00)?)?)?"
    return rf"^({anywhere}|{first}|{last})$"


ISO_TIME = _iso_time_pattern()


def _time(description: str, nullable: bool = False) -> dict[str, Any]:
    return {
        "type": ["string", "null"] if nullable else "string",
        "maxLength": 40,
        "pattern": ISO_TIME,
        "x-pattern-message": (
            "must be an ISO 8601 date or date-time of the years 1900-2200, "
            "e.g. 2024-11-12T09:30:00Z"
        ),
        "description": description,
    }


def _field_schema(field: Field, order_id: dict, text: dict, number: dict) -> dict[str, Any]:
    """The JSON Schema of an order field (triage.orders.data.fields), by its kind: what the
    library's validation takes for it."""
    if field.kind in ("time", "date"):
        return _time(field.description, nullable=not field.required)
    schema = {
        "id": order_id,
        "text": text,
        "count": {"type": ["integer", "null"], "minimum": 1, "maximum": 100000},
        "number": number,
        "flag": {"type": ["boolean", "null"]},
    }[field.kind]
    return {**schema, "description": field.description} if field.description else schema


def _schemas(settings: Settings) -> dict[str, Any]:
    text = {"type": ["string", "null"], "maxLength": 100}
    number = {"type": ["number", "null"], "minimum": 0}
    order_id = {"type": "string", "minLength": 1, "maxLength": 64, "pattern": r"\S", **NO_NUL}
    events_limit = settings.batch_limit * EVENTS_PER_ORDER
    events = {
        "type": "array",
        "maxItems": events_limit,
        "items": ref("TrackingEventInput"),
        "description": f"Tracking events (at most {events_limit}).",
    }
    as_of = _time("Score as known at this time (default: now). Times without a zone are UTC.")
    orders = {"type": "array", "minItems": 1, "maxItems": settings.batch_limit}
    model = {
        "type": "object",
        "required": ["name", "version", "threshold"],
        "properties": {
            "name": {"type": "string"},
            "version": {"type": "string"},
            "threshold": {"type": "number", "description": "Risk at which an order is flagged."},
        },
    }
    return {
        "OrderInput": {
            "type": "object",
            # "triage.orders.schema" as it always read: the document stays byte-identical
            # (the fields are defined in triage/orders/data/fields.py)
            "description": "An order in the canonical schema (triage.orders.schema). Times "
            "without a zone are UTC. An order stored again replaces the stored record.",
            "required": list(REQUIRED_COLUMNS),
            "additionalProperties": False,
            "properties": {
                field.name: _field_schema(field, order_id, text, number) for field in ORDER_FIELDS
            },
        },
        "TrackingEventInput": {
            "type": "object",
            "required": ["order_id", "time", "event_type"],
            "additionalProperties": False,
            "properties": {
                "order_id": order_id,
                "time": _time("When the event happened."),
                "event_type": {"type": "string", "enum": list(EVENT_TYPES)},
                "location": text,
            },
        },
        "RiskInput": {
            "type": "object",
            "required": ["order"],
            "additionalProperties": False,
            "properties": {"order": ref("OrderInput"), "events": events, "as_of": as_of},
        },
        "RiskBatchInput": {
            "type": "object",
            "required": ["orders"],
            "additionalProperties": False,
            "properties": {
                "orders": {**orders, "items": ref("OrderInput")},
                "events": events,
                "as_of": as_of,
            },
        },
        "Reason": {
            "type": "object",
            "required": ["factor", "impact", "text_en", "text_zh"],
            "properties": {
                "factor": {"type": "string"},
                "impact": {"type": "number", "description": "How much the factor adds to risk."},
                "text_en": {"type": "string"},
                "text_zh": {"type": "string"},
            },
        },
        "OrderFacts": {
            "type": "object",
            "description": "What a draft case needs: the order, its dates, carrier and last "
            "tracking event as known at `as_of`.",
            "required": ["order_id", "purchased_at", "promised_date", "carrier", "last_event"],
            "properties": {
                "order_id": {"type": "string"},
                "purchased_at": {"type": "string"},
                "promised_date": {"type": "string"},
                "carrier": {"type": "string"},
                "service_level": {"type": "string"},
                "seller_id": {"type": "string"},
                "buyer_region": {"type": "string"},
                "days_left": {"type": "number"},
                "handed_over": {"type": "boolean"},
                "last_event": {"type": "string"},
                "last_event_time": {"type": ["string", "null"]},
                "last_location": {"type": "string"},
            },
        },
        "RiskModel": model,
        "OrderRisk": {
            "type": "object",
            "required": [
                "order_id",
                "open",
                "as_of",
                "risk",
                "flagged",
                "category",
                "reasons",
                "facts",
                "model",
            ],
            "additionalProperties": False,
            "properties": {
                "order_id": {"type": "string"},
                "open": {
                    "type": "boolean",
                    "description": "False when the order is not open at `as_of` (delivered, "
                    "canceled, not purchased yet, or over 30 days past its promise): no score.",
                },
                "as_of": {"type": "string", "format": "date-time"},
                "risk": {"type": ["number", "null"], "minimum": 0, "maximum": 1},
                "flagged": {"type": ["boolean", "null"]},
                "category": {"enum": [*SUGGESTED_CATEGORIES, None]},
                "reasons": {"type": "array", "items": ref("Reason")},
                "facts": {"oneOf": [ref("OrderFacts"), {"type": "null"}]},
                "model": ref("RiskModel"),
            },
        },
        "RiskBatchResult": {
            "type": "object",
            "required": ["as_of", "results"],
            "additionalProperties": False,
            "properties": {
                "as_of": {"type": "string", "format": "date-time"},
                "results": {"type": "array", "items": ref("OrderRisk")},
            },
        },
        "OrdersIngest": {
            "type": "object",
            "required": ["orders"],
            "additionalProperties": False,
            "properties": {"orders": {**orders, "items": ref("OrderInput")}, "events": events},
        },
        "EventsIngest": {
            "type": "object",
            "required": ["events"],
            "additionalProperties": False,
            "properties": {"events": {**events, "minItems": 1}},
        },
        "IngestResult": {
            "type": "object",
            "required": [
                "as_of",
                "orders",
                "events",
                "scored",
                "flagged",
                "suggestions",
                "closed",
            ],
            "additionalProperties": False,
            "properties": {
                "as_of": {"type": "string", "format": "date-time"},
                "orders": {
                    "type": "object",
                    "required": ["new", "updated"],
                    "properties": {
                        "new": {"type": "integer", "minimum": 0},
                        "updated": {"type": "integer", "minimum": 0},
                    },
                },
                "events": {
                    "type": "object",
                    "required": ["new", "duplicate"],
                    "properties": {
                        "new": {"type": "integer", "minimum": 0},
                        "duplicate": {
                            "type": "integer",
                            "minimum": 0,
                            "description": "Events already stored (same order, time, type).",
                        },
                    },
                },
                "scored": {
                    "type": "integer",
                    "minimum": 0,
                    "description": "Open orders among those touched, re-scored as of now.",
                },
                "flagged": {"type": "integer", "minimum": 0},
                "suggestions": {
                    "type": "array",
                    "items": ref("Suggestion"),
                    "description": "Suggestions made by this ingest (the policy allows one "
                    "open suggestion per order, none during a cooldown or when a case exists).",
                },
                "closed": {
                    "type": "array",
                    "items": ref("Suggestion"),
                    "description": "Open suggestions this ingest closed because their order is "
                    "no longer open: `resolved` (delivered or canceled) or `expired` (over 30 "
                    "days past its promise).",
                },
            },
        },
    }


def decision_links(suggestion_id: str) -> dict[str, Any]:
    """OpenAPI links from a response naming a suggestion (the runtime expression
    `suggestion_id`) to accepting and to dismissing it."""
    return {
        verb.capitalize() + "Suggestion": {
            "operationId": f"{verb}Suggestion",
            "parameters": {"suggestion_id": suggestion_id},
        }
        for verb in ("accept", "dismiss")
    }


def openapi(settings: Settings) -> dict[str, Any]:
    secured = {"security": [{"bearer": []}, {"apiKey": []}]}
    stamp = "2024-11-08T10:00:00Z"
    order = {
        "order_id": "A1001",
        "purchased_at": stamp,
        "promised_date": "2024-11-13",
        "carrier": "Panda Post",
        "seller_id": "S42",
        "buyer_region": "SH",
        "seller_region": "GD",
    }
    event = {"order_id": "A1001", "time": "2024-11-09T08:00:00Z", "event_type": "picked_up"}
    ingest_errors = error_responses(400, 401, 403, 413, 415, 422, 429, 503)
    batch_note = (
        f"At most {settings.batch_limit} orders and "
        f"{settings.batch_limit * EVENTS_PER_ORDER} events per request; all-or-nothing."
    )
    # the suggestions an ingest made: list the order's suggestions, accept or dismiss the first
    ingest_links = {
        "ListOrderSuggestions": {
            "operationId": "listSuggestions",
            "parameters": {"order_id": "$response.body#/suggestions/0/order_id"},
        },
        **decision_links("$response.body#/suggestions/0/suggestion_id"),
    }
    return {
        "paths": {
            "/v1/orders/risk": {
                "post": {
                    "operationId": "scoreOrders",
                    "tags": ["orders"],
                    "summary": "Risk that orders arrive late, with reasons; nothing is stored.",
                    "description": (
                        'Send `{"order", "events"?, "as_of"?}` or `{"orders": [...], '
                        '"events"?, "as_of"?}`. The stored orders are the history the seller, '
                        "lane and platform features come from; the orders given replace stored "
                        f"ones of the same id for this calculation. {batch_note}"
                    ),
                    "x-required-role": "predict",
                    **secured,
                    "requestBody": json_body(
                        {"oneOf": [ref("RiskInput"), ref("RiskBatchInput")]},
                        example={"order": order, "events": [event]},
                    ),
                    "responses": {
                        "200": json_response(
                            {"oneOf": [ref("OrderRisk"), ref("RiskBatchResult")]},
                            "One order's risk, or `results` in the order of `orders`.",
                        ),
                        **error_responses(400, 401, 403, 413, 415, 422, 429, 503),
                    },
                }
            },
            "/v1/orders": {
                "post": {
                    "operationId": "ingestOrders",
                    "tags": ["orders"],
                    "summary": "Store orders (and their events), re-score them, suggest cases.",
                    "description": (
                        "An order stored again replaces the stored record (e.g. with "
                        f"`delivered_at` or `canceled`). {batch_note} Needs the risk model "
                        "(503 otherwise, nothing stored)."
                    ),
                    "x-required-role": "analyst",
                    **secured,
                    "requestBody": json_body(
                        ref("OrdersIngest"), example={"orders": [order], "events": [event]}
                    ),
                    "responses": {
                        "200": json_response(ref("IngestResult"), "Stored and re-scored.")
                        | {"links": ingest_links},
                        **ingest_errors,
                    },
                }
            },
            "/v1/orders/events": {
                "post": {
                    "operationId": "ingestOrderEvents",
                    "tags": ["orders"],
                    "summary": "Store tracking events of stored orders, re-score, suggest cases.",
                    "description": (
                        "Every event's order must be stored (422 otherwise). An event already "
                        f"stored (same order, time and type) is counted as a duplicate. {batch_note}"
                    ),
                    "x-required-role": "analyst",
                    **secured,
                    "requestBody": json_body(ref("EventsIngest"), example={"events": [event]}),
                    "responses": {
                        "200": json_response(ref("IngestResult"), "Stored and re-scored.")
                        | {"links": ingest_links},
                        **ingest_errors,
                    },
                }
            },
        },
        "components": {"schemas": _schemas(settings)},
    }
