"""Delayed orders: orders, tracking events, proactive suggestions and the cases accepted from them.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

ORDER_TEXT = ("seller_id", "seller_region", "buyer_region", "carrier", "service_level", "category")


def upgrade() -> None:
    op.create_table(
        "orders",
        sa.Column("order_id", sa.String(64), primary_key=True),
        sa.Column("purchased_at", sa.DateTime(), nullable=False),
        sa.Column("promised_date", sa.DateTime(), nullable=False),
        sa.Column("ship_by", sa.DateTime(), nullable=True),
        *(sa.Column(name, sa.String(100), nullable=False) for name in ORDER_TEXT),
        sa.Column("n_items", sa.Integer(), nullable=False),
        sa.Column("weight_kg", sa.Float(), nullable=True),
        sa.Column("price", sa.Float(), nullable=True),
        sa.Column("freight", sa.Float(), nullable=True),
        sa.Column("distance_km", sa.Float(), nullable=True),
        sa.Column("delivered_at", sa.DateTime(), nullable=True),
        sa.Column("canceled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_orders_purchased_at", "orders", ["purchased_at"])
    op.create_table(
        "tracking_events",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), nullable=False),
        sa.Column("time", sa.DateTime(), nullable=False),
        sa.Column("event_type", sa.String(32), nullable=False),
        sa.Column("location", sa.String(100), nullable=False),
        sa.UniqueConstraint("order_id", "time", "event_type", name="uq_tracking_events_order_time"),
    )
    op.create_table(
        "suggestions",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("risk", sa.Float(), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("draft_zh", sa.Text(), nullable=False),
        sa.Column("draft_en", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("decided_at", sa.DateTime(), nullable=True),
        sa.Column("case_id", sa.String(40), nullable=True),
        sa.Column("facts", sa.JSON(), nullable=False),
        sa.Column("model", sa.JSON(), nullable=False),
    )
    op.create_index("ix_suggestions_order_id", "suggestions", ["order_id"])
    op.create_index("ix_suggestions_created_at", "suggestions", ["created_at"])
    op.create_index(
        "uq_suggestions_open_order",
        "suggestions",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.String(40), primary_key=True),
        sa.Column("order_id", sa.String(64), nullable=False),
        sa.Column("category", sa.String(64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("language", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column(
            "suggestion_id",
            sa.String(40),
            sa.ForeignKey("suggestions.id"),
            nullable=True,
            unique=True,
        ),
        sa.Column("predicted_category", sa.String(64), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("needs_review", sa.Boolean(), nullable=False),
        sa.Column("model_name", sa.String(64), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("prediction_id", sa.String(36), nullable=True),
        sa.Column("key_id", sa.String(12), nullable=True),
    )
    op.create_index("ix_cases_order_id", "cases", ["order_id"])
    op.create_index("ix_cases_created_at", "cases", ["created_at"])


def downgrade() -> None:
    op.drop_table("cases")
    op.drop_table("suggestions")
    op.drop_table("tracking_events")
    op.drop_table("orders")
