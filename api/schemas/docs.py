"""The OpenAPI fragment of the docs resource (api/views/docs.py): its paths and schemas."""

from __future__ import annotations

from typing import Any

from api.openapi import json_response
from triage.config import Settings

__all__ = ["openapi"]


def openapi(settings: Settings) -> dict[str, Any]:
    return {
        "paths": {
            "/openapi.json": {
                "get": {
                    "operationId": "openapiDocument",
                    "tags": ["docs"],
                    "summary": "This document.",
                    "responses": {"200": json_response({"type": "object"}, "OpenAPI 3.1.")},
                }
            },
            "/docs": {
                "get": {
                    "operationId": "docsPage",
                    "tags": ["docs"],
                    "summary": "This document as a readable HTML page.",
                    "responses": {
                        "200": {
                            "description": "HTML.",
                            "content": {"text/html": {"schema": {"type": "string"}}},
                        }
                    },
                }
            },
        }
    }
