"""The OpenAPI fragment of the taxonomy resource (api/views/taxonomy.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import error_responses, json_response, ref
from triage.config import Settings

__all__ = ["openapi"]


def openapi(settings: Settings) -> dict[str, Any]:
    text = {"type": "string"}
    category = {
        "type": "object",
        "required": [
            "id",
            "name_zh",
            "name_en",
            "description_zh",
            "description_en",
            "team",
            "filers",
            "required_details",
        ],
        "properties": {
            "id": text,
            "name_zh": text,
            "name_en": text,
            "description_zh": text,
            "description_en": text,
            "team": text,
            "filers": {"type": "array", "items": text},
            "required_details": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["id", "name_zh", "name_en"],
                    "properties": {"id": text, "name_zh": text, "name_en": text},
                },
            },
        },
    }
    return {
        "paths": {
            "/v1/taxonomy": {
                "get": {
                    "operationId": "getTaxonomy",
                    "tags": ["taxonomy"],
                    "summary": "The categories cases are routed to.",
                    "x-required-role": "predict",
                    "security": [{"bearer": []}, {"apiKey": []}],
                    "responses": {
                        "200": json_response(ref("Taxonomy"), "The taxonomy."),
                        **error_responses(401, 403, 429, 503),
                    },
                }
            }
        },
        "components": {
            "schemas": {
                "Taxonomy": {
                    "type": "object",
                    "required": ["version", "categories"],
                    "properties": {
                        "version": {"type": "integer"},
                        "categories": {"type": "array", "items": ref("Category")},
                    },
                },
                "Category": category,
            }
        },
    }
