"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

``/healthz`` is also the benchmark's bare endpoint: it returns a constant and touches nothing.
"""

from __future__ import annotations

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.errors import RETRY_AFTER_SECONDS, error_response
from api.runtime import runtime
from triage.errors import StoreError

__all__ = ["blueprint"]

blueprint = Blueprint("system", __name__)


@blueprint.get("/healthz")
def healthz() -> ResponseReturnValue:
    """Liveness only: the worker answers."""
    return jsonify(status="ok")


@blueprint.get("/readyz")
def readyz() -> ResponseReturnValue:
    """Ready when every model is loaded and warmed and the database answers at its schema."""
    state = runtime()
    models = state.models.status()
    database = "ok"
    try:
        if not state.store.is_current():
            database = "schema is not at the newest revision; run `triage db upgrade`"
    except StoreError as exc:
        database = str(exc)
    if state.models.ready and database == "ok":
        return jsonify(status="ready", models=models, database=database)
    return error_response(
        503,
        "not_ready",
        "not ready: "
        + "; ".join(
            [f"{name}: {s['error']}" for name, s in models.items() if "error" in s]
            + ([f"database: {database}"] if database != "ok" else [])
        ),
        {"models": models, "database": database},
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )
