"""The tables of the service database (see triage.store): API keys and their rate counters,
the prediction log and feedback, with the statements the request path runs prebuilt; and the
delayed-order tables (orders, tracking events, suggestions and the cases accepted from them,
see triage.orders.storage, triage.orders.suggestion_store and triage.cases.store).

Changing a table here, or a field of the order (triage/orders/data/fields.py), needs a new
migration in triage/migrations/versions/.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
import sqlalchemy.dialects.postgresql
import sqlalchemy.dialects.sqlite

from triage.orders.data.fields import ORDER_FIELDS, Field

__all__ = [
    "DROP_OLD_WINDOWS",
    "INSERT_PREDICTIONS",
    "SELECT_KEY",
    "UTCDateTime",
    "api_key_usage",
    "api_keys",
    "cases",
    "console_sessions",
    "feedback",
    "metadata",
    "order_risks",
    "orders",
    "predictions",
    "suggestions",
    "tracking_events",
    "upsert_count",
    "utcnow",
]


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC, to the microsecond."""
    return dt.datetime.now(dt.UTC)


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp stored as naive UTC (SQLite has no time zones) and read back as aware UTC."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store; use timezone-aware UTC")
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        return None if value is None else value.replace(tzinfo=dt.UTC)


metadata = sa.MetaData()

api_keys = sa.Table(
    "api_keys",
    metadata,
    sa.Column("id", sa.String(12), primary_key=True),
    sa.Column("name", sa.String(100), nullable=False),
    sa.Column("role", sa.String(16), nullable=False),
    sa.Column("token_hash", sa.String(64), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("revoked_at", UTCDateTime(), nullable=True),
)

api_key_usage = sa.Table(
    "api_key_usage",
    metadata,
    sa.Column("key_id", sa.String(12), sa.ForeignKey("api_keys.id"), primary_key=True),
    sa.Column("window_start", sa.BigInteger(), primary_key=True),
    sa.Column("count", sa.Integer(), nullable=False),
)

predictions = sa.Table(
    "predictions",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("confidence", sa.Float(), nullable=False),
    sa.Column("needs_review", sa.Boolean(), nullable=False),
    sa.Column("model_name", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("filer_role", sa.String(32), nullable=True),
    sa.Column("order_id", sa.String(64), nullable=True),
    sa.Column("key_id", sa.String(12), nullable=True),
    sa.Column("request_id", sa.String(36), nullable=True),
    # the console's review queue, newest first, by state and by category (migration 0005)
    sa.Index("ix_predictions_needs_review_created_at", "needs_review", "created_at"),
    sa.Index("ix_predictions_category_created_at", "category", "created_at"),
)

feedback = sa.Table(
    "feedback",
    metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column(
        "prediction_id", sa.String(36), sa.ForeignKey("predictions.id"), nullable=False, index=True
    ),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("note", sa.Text(), nullable=True),
    sa.Column("key_id", sa.String(12), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
)


# -- delayed orders ------------------------------------------------------------------------
#: orders: one column per field of triage.orders.data.fields.ORDER_FIELDS (text columns hold
#: "unknown" when the source did not say); `updated_at` is when the service last stored the
#: record. A new field there needs only its migration here.
def _order_column(field: Field) -> sa.Column:
    """The column of an order field (triage.orders.data.fields): times and numbers may be
    empty unless required; text, counts and flags always hold a value (validation fills them)."""
    if field.kind == "id":
        return sa.Column(field.name, sa.String(64), primary_key=True)
    kind = {
        "time": UTCDateTime(),
        "date": UTCDateTime(),
        "text": sa.String(100),
        "count": sa.Integer(),
        "number": sa.Float(),
        "flag": sa.Boolean(),
    }[field.kind]
    nullable = field.kind in ("time", "date", "number") and not field.required
    return sa.Column(field.name, kind, nullable=nullable, index=field.indexed or None)


orders = sa.Table(
    "orders",
    metadata,
    *(_order_column(field) for field in ORDER_FIELDS),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    # the data version of the last save that wrote the order or one of its events (migration
    # 0003): workers reload only the orders above the version they hold (triage.orders.storage)
    sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0"), index=True),
)

#: the latest risk of each stored order, written whenever the service scores it (an ingest of
#: the order or its events, a rescoring): what a case filed for the order shows (migration 0004)
order_risks = sa.Table(
    "order_risks",
    metadata,
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), primary_key=True),
    sa.Column("p_late", sa.Float(), nullable=False),
    sa.Column("flagged", sa.Boolean(), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("as_of", UTCDateTime(), nullable=False),
)

#: tracking events; the same (order, time, type) is stored once
tracking_events = sa.Table(
    "tracking_events",
    metadata,
    sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
    sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), nullable=False),
    sa.Column("time", UTCDateTime(), nullable=False),
    sa.Column("event_type", sa.String(32), nullable=False),
    sa.Column("location", sa.String(100), nullable=False),
    sa.UniqueConstraint("order_id", "time", "event_type", name="uq_tracking_events_order_time"),
)

#: proactive "open a case?" suggestions (triage.orders.suggestions.policy.Suggestion); at most one
#: open suggestion per order, enforced by a partial unique index across workers
suggestions = sa.Table(
    "suggestions",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False, index=True),
    sa.Column("risk", sa.Float(), nullable=False),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("reasons", sa.JSON(), nullable=False),
    sa.Column("draft_zh", sa.Text(), nullable=False),
    sa.Column("draft_en", sa.Text(), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("decided_at", UTCDateTime(), nullable=True),
    sa.Column("case_id", sa.String(40), nullable=True),
    sa.Column("facts", sa.JSON(), nullable=False),
    sa.Column("model", sa.JSON(), nullable=False),
    sa.Index(
        "uq_suggestions_open_order",
        "order_id",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
)

#: cases of stored orders: filed through categorize (origin "filed") or opened by accepting a
#: suggestion (origin "suggestion"); the text filed, the category (the suggestion's, or the
#: order-aware prediction for a filed case), what the case model predicted for the text with the
#: order (`predicted_category`) and without it (`text_category`), also logged in `predictions`
#: under `prediction_id` for feedback; open until resolved, at most one open case per order
#: (migration 0004); read and written by triage.cases.store only
cases = sa.Table(
    "cases",
    metadata,
    sa.Column("id", sa.String(40), primary_key=True),
    sa.Column("order_id", sa.String(64), nullable=False, index=True),
    sa.Column("category", sa.String(64), nullable=False),
    sa.Column("text", sa.Text(), nullable=False),
    sa.Column("language", sa.String(8), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False, index=True),
    sa.Column(
        "suggestion_id", sa.String(40), sa.ForeignKey("suggestions.id"), nullable=True, unique=True
    ),
    sa.Column("predicted_category", sa.String(64), nullable=False),
    sa.Column("confidence", sa.Float(), nullable=False),
    sa.Column("needs_review", sa.Boolean(), nullable=False),
    sa.Column("model_name", sa.String(64), nullable=False),
    sa.Column("model_version", sa.String(64), nullable=False),
    sa.Column("prediction_id", sa.String(36), nullable=True),
    sa.Column("key_id", sa.String(12), nullable=True),
    sa.Column("origin", sa.String(16), nullable=False, server_default="suggestion"),
    sa.Column("status", sa.String(16), nullable=False, server_default="open", index=True),
    sa.Column("resolved_at", UTCDateTime(), nullable=True),
    sa.Column("text_category", sa.String(64), nullable=True),
    sa.Column("filer_role", sa.String(16), nullable=True),
    sa.Index(
        "uq_cases_open_order",
        "order_id",
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    ),
)


#: signed-in sessions of the operator console (triage.sessions, migration 0005): the cookie
#: holds a random token, the table only its SHA-256; the key's role is read again on every
#: request (a revoked key ends its sessions), `last_seen_at` drives the idle expiry
console_sessions = sa.Table(
    "console_sessions",
    metadata,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("key_id", sa.String(12), sa.ForeignKey("api_keys.id"), nullable=False, index=True),
    sa.Column("csrf_token", sa.String(64), nullable=False),
    sa.Column("language", sa.String(8), nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False, index=True),
)


# Statements of the request path, built once: building them per call costs more than running them.
SELECT_KEY = sa.select(api_keys).where(api_keys.c.id == sa.bindparam("key_id"))
INSERT_PREDICTIONS = predictions.insert()
DROP_OLD_WINDOWS = api_key_usage.delete().where(
    api_key_usage.c.key_id == sa.bindparam("key_id"),
    api_key_usage.c.window_start < sa.bindparam("window_start"),
)


def upsert_count(dialect: str) -> Any:
    """INSERT ... ON CONFLICT DO UPDATE count + 1 RETURNING count, where the dialect has it."""
    module = sa.dialects.sqlite if dialect == "sqlite" else sa.dialects.postgresql
    insert = module.insert(api_key_usage).values(
        key_id=sa.bindparam("key_id"), window_start=sa.bindparam("window_start"), count=1
    )
    return insert.on_conflict_do_update(
        index_elements=["key_id", "window_start"], set_={"count": api_key_usage.c.count + 1}
    ).returning(api_key_usage.c.count)
