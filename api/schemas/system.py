"""The OpenAPI fragment of the system resource (api/views/system.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import json_response, ref
from triage.config import Settings

__all__ = ["openapi"]


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
