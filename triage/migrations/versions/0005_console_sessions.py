"""The operator console: its sessions (triage.sessions), one row per signed-in browser,
holding the SHA-256 of its cookie's token, the key it signed in with, its CSRF token, its
interface language and when it was last seen (idle expiry); and two indexes of the prediction
log for its review queue (newest first by review state, and by category).

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "console_sessions",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("key_id", sa.String(12), sa.ForeignKey("api_keys.id"), nullable=False),
        sa.Column("csrf_token", sa.String(64), nullable=False),
        sa.Column("language", sa.String(8), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(), nullable=False),
    )
    op.create_index("ix_console_sessions_key_id", "console_sessions", ["key_id"])
    op.create_index("ix_console_sessions_last_seen_at", "console_sessions", ["last_seen_at"])
    op.create_index(
        "ix_predictions_needs_review_created_at", "predictions", ["needs_review", "created_at"]
    )
    op.create_index("ix_predictions_category_created_at", "predictions", ["category", "created_at"])


def downgrade() -> None:
    op.drop_index("ix_predictions_category_created_at", table_name="predictions")
    op.drop_index("ix_predictions_needs_review_created_at", table_name="predictions")
    op.drop_index("ix_console_sessions_last_seen_at", table_name="console_sessions")
    op.drop_index("ix_console_sessions_key_id", table_name="console_sessions")
    op.drop_table("console_sessions")
