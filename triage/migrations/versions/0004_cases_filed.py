"""Cases: filed by buyers and sellers as well as opened from suggestions, open until resolved.

A case is now also what a filer files through ``POST /v1/cases/categorize`` for an order the
service knows (origin ``filed``), beside the cases opened by accepting a suggestion (origin
``suggestion``). Each case is ``open`` until an analyst resolves it; an order has at most one
open case, enforced by a partial unique index as the open suggestions are (older duplicates,
which the service never made, would be resolved by this migration before the index is built).
`text_category` keeps what the words alone said, beside the order-aware `predicted_category`.
``order_risks`` keeps each stored order's latest risk (written when the service scores it), so
that a case filed for the order shows it without scoring again.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("cases") as batch:
        batch.add_column(
            sa.Column("origin", sa.String(16), nullable=False, server_default="suggestion")
        )
        batch.add_column(sa.Column("status", sa.String(16), nullable=False, server_default="open"))
        batch.add_column(sa.Column("resolved_at", sa.DateTime(), nullable=True))
        batch.add_column(sa.Column("text_category", sa.String(64), nullable=True))
        batch.add_column(sa.Column("filer_role", sa.String(16), nullable=True))
    # one open case per order: keep the newest open one of any order that has several
    op.execute(
        "UPDATE cases SET status = 'resolved' WHERE status = 'open' AND EXISTS ("
        "SELECT 1 FROM cases AS newer WHERE newer.order_id = cases.order_id "
        "AND newer.status = 'open' AND (newer.created_at > cases.created_at "
        "OR (newer.created_at = cases.created_at AND newer.id > cases.id)))"
    )
    op.create_index(
        "uq_cases_open_order",
        "cases",
        ["order_id"],
        unique=True,
        sqlite_where=sa.text("status = 'open'"),
        postgresql_where=sa.text("status = 'open'"),
    )
    op.create_index("ix_cases_status", "cases", ["status"])
    op.create_table(
        "order_risks",
        sa.Column("order_id", sa.String(64), sa.ForeignKey("orders.order_id"), primary_key=True),
        sa.Column("p_late", sa.Float(), nullable=False),
        sa.Column("flagged", sa.Boolean(), nullable=False),
        sa.Column("model_version", sa.String(64), nullable=False),
        sa.Column("as_of", sa.DateTime(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("order_risks")
    op.drop_index("ix_cases_status", table_name="cases")
    op.drop_index("uq_cases_open_order", table_name="cases")
    with op.batch_alter_table("cases") as batch:
        for column in ("filer_role", "text_category", "resolved_at", "status", "origin"):
            batch.drop_column(column)
