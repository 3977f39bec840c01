"""Alembic migration scripts of the service database, shipped inside the package.

`triage.store.Store.migrate()` runs them; write a new revision by hand in versions/ (copy the
newest one, set ``down_revision`` to its ``revision``) and describe the change in its docstring.
"""
