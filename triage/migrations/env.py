"""Alembic environment: runs on the connection that `triage.store.Store.migrate` hands over."""

from __future__ import annotations

from alembic import context

from triage.store_tables import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through triage.store.Store.migrate() or `triage db upgrade`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
