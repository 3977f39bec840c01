"""The OpenAPI fragment of the models resource (api/views/models.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import NO_NUL, error_responses, json_body, json_response, ref
from triage.config import Settings

__all__ = ["openapi"]

VERSION_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]*$"


def openapi(settings: Settings) -> dict[str, Any]:
    nullable = {"type": ["string", "null"]}
    version = {
        "type": "object",
        "required": ["version", "status", "kind", "created_at", "last_promoted_at", "headline"],
        "properties": {
            "version": {"type": "string"},
            "status": {
                "enum": ["champion", "available", "rejected"],
                "description": "champion: the version served; rejected: kept but refused by "
                "the promotion gate (see rejected_reason); available: anything else.",
            },
            "kind": nullable,
            "created_at": nullable,
            "last_promoted_at": {
                **nullable,
                "description": "When it last became champion (promotion or rollback).",
            },
            "headline": {
                "type": "object",
                "additionalProperties": {"type": "number"},
                "description": "Scalar held-out figures recorded at training.",
            },
            "rejected_reason": {"type": "string"},
        },
    }
    model = {
        "type": "object",
        "required": ["name", "version", "serving_version", "versions", "registered"],
        "properties": {
            "name": {"type": "string"},
            "version": {
                **nullable,
                "description": "The champion (active) version; null when none is promoted.",
            },
            "serving_version": {**nullable, "description": "The version this worker serves."},
            "reload_error": {
                "type": "string",
                "description": "Why this worker still serves an older version than the champion.",
            },
            "versions": {"type": "integer", "description": "Registered versions."},
            "registered": {
                "type": "array",
                "items": ref("ModelVersion"),
                "description": "Every registered version, oldest first.",
            },
            "kind": nullable,
            "created_at": nullable,
            "classes": {"type": "array", "items": {"type": "string"}},
            "metrics": {
                "type": "object",
                "description": "As recorded at training: held-out and cross-validation figures.",
            },
        },
    }
    change = {
        "type": "object",
        "required": ["name", "action", "champion", "previous", "at", "reload_seconds"],
        "properties": {
            "name": {"type": "string"},
            "action": {"enum": ["promote", "rollback"]},
            "champion": {"type": "string", "description": "The champion now."},
            "previous": {**nullable, "description": "The champion before."},
            "at": {"type": "string", "format": "date-time"},
            "reload_seconds": {
                "type": "number",
                "description": "Workers check for a new champion this often (0: never; "
                "restart them).",
            },
        },
    }
    name_parameter = {
        "name": "name",
        "in": "path",
        "required": True,
        "schema": {"type": "string"},
        "description": "A model name of GET /v1/models (cases, ...).",
    }
    admin = {"x-required-role": "admin", "security": [{"bearer": []}, {"apiKey": []}]}

    def conflict(text: str) -> dict[str, Any]:
        return {"409": json_response(ref("Error"), text)}

    return {
        "paths": {
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "tags": ["models"],
                    "summary": "Registered models, their versions and status, and what is served.",
                    "x-required-role": "predict",
                    "security": [{"bearer": []}, {"apiKey": []}],
                    "responses": {
                        "200": json_response(
                            {
                                "type": "object",
                                "required": ["models"],
                                "properties": {
                                    "models": {"type": "array", "items": ref("ModelSummary")}
                                },
                            },
                            "The models.",
                        ),
                        **error_responses(401, 403, 429, 503),
                    },
                }
            },
            "/v1/models/{name}/promote": {
                "post": {
                    "operationId": "promoteModel",
                    "tags": ["models"],
                    "summary": "Make a version the champion (every worker reloads within seconds).",
                    **admin,
                    "parameters": [name_parameter],
                    "requestBody": json_body(
                        ref("PromoteInput"), example={"version": "20261126T044010Z-461eea"}
                    ),
                    "responses": {
                        "200": json_response(ref("ModelChange"), "Promoted."),
                        **error_responses(400, 401, 403, 404, 413, 415, 422, 429, 503),
                        **conflict(
                            "The version fails its integrity check (checksum or library "
                            "versions) and is not promoted (`model_integrity`)."
                        ),
                    },
                }
            },
            "/v1/models/{name}/rollback": {
                "post": {
                    "operationId": "rollbackModel",
                    "tags": ["models"],
                    "summary": "Make the previous champion the champion again.",
                    **admin,
                    "parameters": [name_parameter],
                    "responses": {
                        "200": json_response(ref("ModelChange"), "Rolled back."),
                        **error_responses(401, 403, 404, 429, 503),
                        **conflict(
                            "Nothing to roll back to (`no_champion`, `no_earlier_champion`) or "
                            "the previous champion fails its integrity check (`model_integrity`)."
                        ),
                    },
                }
            },
        },
        "components": {
            "schemas": {
                "ModelSummary": model,
                "ModelVersion": version,
                "ModelChange": change,
                "PromoteInput": {
                    "type": "object",
                    "required": ["version"],
                    "additionalProperties": False,
                    "properties": {
                        "version": {
                            "type": "string",
                            "minLength": 1,
                            "maxLength": 100,
                            "pattern": VERSION_PATTERN,
                            **NO_NUL,
                            "description": "A version of GET /v1/models (`registered[].version`).",
                        }
                    },
                },
            }
        },
    }
