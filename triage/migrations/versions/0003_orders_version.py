"""Orders: a data version per order, so that a service worker can tell what changed.

Every `OrderStore.save` takes the next version (one more than the largest stored) and stamps
it on the orders it writes and on the orders whose events it stores. Workers keep the history
of stored orders in memory (triage.orders.history_cache) and reload only the orders whose
version is above the one they hold. Orders stored before this revision get version 0.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("orders") as batch:
        batch.add_column(
            sa.Column("version", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
    op.create_index("ix_orders_version", "orders", ["version"])


def downgrade() -> None:
    op.drop_index("ix_orders_version", table_name="orders")
    with op.batch_alter_table("orders") as batch:
        batch.drop_column("version")
