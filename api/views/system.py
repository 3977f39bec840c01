"""Liveness and readiness: ``/healthz`` (the process answers) and ``/readyz`` (it can serve).

``/healthz`` is also the benchmark's bare endpoint: it returns a constant and touches nothing.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue

from api.errors import RETRY_AFTER_SECONDS, error_response
from api.openapi import json_response, ref
from api.runtime import runtime
from triage.config import Settings
from triage.errors import StoreError

__all__ = ["blueprint", "openapi"]

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


def openapi(settings: Settings) -> dict[str, Any]:
    status = {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}
    ready = {
        "type": "object",
        "required": ["status", "models", "database"],
        "properties": {
            "status": {"const": "ready"},
            "models": {
                "type": "object",
                "description": "Per model name, the version this worker serves. While a "
                "newer champion fails to load (checksum mismatch, incompatible library "
                "versions), the last good version stays in service and `champion` and "
                "`reload_error` say which version failed and why. An optional model that "
                "is not loaded (the risk model: only the order endpoints need it) shows its "
                "`error` without holding back readiness.",
                "additionalProperties": {
                    "type": "object",
                    "anyOf": [{"required": ["version"]}, {"required": ["error"]}],
                    "properties": {
                        "version": {"type": "string"},
                        "champion": {"type": ["string", "null"]},
                        "reload_error": {"type": "string"},
                        "error": {"type": "string"},
                    },
                },
            },
            "database": {"const": "ok"},
        },
    }
    return {
        "paths": {
            "/healthz": {
                "get": {
                    "operationId": "healthz",
                    "tags": ["system"],
                    "summary": "Liveness: the worker answers (a constant).",
                    "responses": {"200": json_response(ref("Health"), "Alive.")},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "readyz",
                    "tags": ["system"],
                    "summary": "Readiness: models loaded and warmed, database reachable.",
                    "responses": {
                        "200": json_response(ref("Ready"), "Ready to serve."),
                        "503": json_response(
                            ref("Error"),
                            "Not ready; `details.models` and `details.database` say why.",
                        ),
                    },
                }
            },
        },
        "components": {"schemas": {"Health": status, "Ready": ready}},
    }
