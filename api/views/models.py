"""``GET /v1/models``: the active (champion) version of each model, its metrics, and what this
worker serves."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.auth import requires
from api.openapi import error_responses, json_response, ref
from api.runtime import runtime
from triage.config import Settings

__all__ = ["blueprint", "openapi"]

blueprint = Blueprint("models", __name__)


def _summary(registry: Any, name: str, served: dict[str, Any]) -> dict[str, Any]:
    versions = registry.versions(name)
    champion = next((m for m in versions if m["status"] == "champion"), None)
    entry: dict[str, Any] = {
        "name": name,
        "version": None,
        "serving_version": served.get(name, {}).get("version"),
        "versions": len(versions),
    }
    if champion is not None:
        entry.update(
            version=champion["version"],
            kind=champion.get("kind"),
            created_at=champion.get("created_at"),
            classes=champion.get("classes", []),
            metrics=champion.get("metrics", {}),
        )
    return entry


@blueprint.get("/v1/models")
@requires("predict")
def list_models() -> ResponseReturnValue:
    """Every registered model: champion version with its metrics, and the version served here."""
    state = runtime()
    registry = state.models.registry
    served = state.models.status()
    names = sorted(set(registry.names()) | set(served))
    return {"models": [_summary(registry, name, served) for name in names]}


def openapi(settings: Settings) -> dict[str, Any]:
    model = {
        "type": "object",
        "required": ["name", "version", "serving_version", "versions"],
        "properties": {
            "name": {"type": "string"},
            "version": {
                "type": ["string", "null"],
                "description": "The champion (active) version; null when none is promoted.",
            },
            "serving_version": {
                "type": ["string", "null"],
                "description": "The version this worker serves.",
            },
            "versions": {"type": "integer", "description": "Registered versions."},
            "kind": {"type": ["string", "null"]},
            "created_at": {"type": ["string", "null"]},
            "classes": {"type": "array", "items": {"type": "string"}},
            "metrics": {
                "type": "object",
                "description": "As recorded at training: held-out and cross-validation figures.",
            },
        },
    }
    return {
        "paths": {
            "/v1/models": {
                "get": {
                    "operationId": "listModels",
                    "tags": ["models"],
                    "summary": "Active model versions with their metrics.",
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
            }
        },
        "components": {"schemas": {"ModelSummary": model}},
    }
