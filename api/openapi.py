"""The OpenAPI 3.1 document of the service, assembled from one fragment per resource.

Every resource has a views module (api/views/*.py) with a ``blueprint`` and a schemas module
(api/schemas/*.py) with an ``openapi(settings)`` function returning
``{"paths": {...}, "components": {"schemas": {...}, ...}}``; the factory adds both, so a new
resource brings its own routes and its own part of the document. The helpers below (`ref`,
`json_body`, `json_response`, `error_responses`, `NO_NUL`) are what the fragments are built with. Schemas are JSON Schema
2020-12 (OpenAPI 3.1), and request bodies are validated against the very same schemas
(`api.validation`), which is what keeps the document and the behaviour in step.

Operations carry ``x-required-role`` (predict, analyst, admin, or absent for public ones); the
role matrix test reads it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from flask import Flask, current_app
from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from triage import __version__
from triage.config import Settings

__all__ = [
    "DOCUMENT_URI",
    "NO_NUL",
    "OpenApi",
    "error_responses",
    "json_body",
    "json_response",
    "openapi_for",
    "page_parameters",
    "page_response",
    "ref",
]

DOCUMENT_URI = "urn:case-triage:openapi"
Fragment = dict[str, Any]


#: Added to free-text string schemas: NUL characters are refused (422) everywhere, since
#: PostgreSQL cannot store them (api.validation checks every string of a body).
NO_NUL: dict[str, Any] = {"not": {"type": "string", "pattern": "\\u0000"}}


def ref(name: str) -> dict[str, str]:
    """A reference to a schema of components/schemas."""
    return {"$ref": f"#/components/schemas/{name}"}


def json_body(schema: dict[str, Any], description: str = "", example: Any = None) -> dict:
    body: dict[str, Any] = {"required": True, "content": {"application/json": {"schema": schema}}}
    if description:
        body["description"] = description
    if example is not None:
        body["content"]["application/json"]["example"] = example
    return body


def json_response(schema: dict[str, Any], description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def page_parameters(max_page: int, max_offset: int) -> list[dict]:
    """The `limit` and `offset` query parameters of a paged list."""
    return [
        {
            "name": "limit",
            "in": "query",
            "schema": {"type": "integer", "minimum": 1, "maximum": max_page, "default": 100},
        },
        {
            "name": "offset",
            "in": "query",
            "description": "Skip this many (`next_offset` of the previous page).",
            "schema": {"type": "integer", "minimum": 0, "maximum": max_offset, "default": 0},
        },
    ]


def page_response(key: str, item: dict[str, Any], description: str) -> dict:
    """A page of a list: `key` (the items) and `next_offset` (null on the last page)."""
    return json_response(
        {
            "type": "object",
            "required": [key, "next_offset"],
            "additionalProperties": False,
            "properties": {
                key: {"type": "array", "items": item},
                "next_offset": {"type": ["integer", "null"]},
            },
        },
        description,
    )


#: The standard error responses, by status; operations list the ones they can give.
_ERROR_DESCRIPTIONS = {
    400: "Malformed JSON or a field of the wrong type; `details.field` names its path.",
    401: "Missing or invalid API key.",
    403: "The key's role may not call this operation.",
    404: "No such resource.",
    409: "The resource's state forbids this (e.g. a suggestion already accepted or dismissed).",
    413: "Body, text or batch over its size limit.",
    415: "The body is not application/json.",
    422: "Well-formed but semantically invalid; `details.field` names the field.",
    429: "Over the key's rate limit; see Retry-After.",
    503: "Models not loaded yet or the database unavailable; see Retry-After.",
}


def error_responses(*statuses: int) -> dict[str, Any]:
    """Response objects for the given error statuses, all in the error format."""
    return {str(status): {"$ref": f"#/components/responses/Error{status}"} for status in statuses}


def _base_document(settings: Settings) -> dict[str, Any]:
    responses = {
        f"Error{status}": json_response(ref("Error"), description)
        for status, description in _ERROR_DESCRIPTIONS.items()
    }
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "case-triage",
            "version": __version__,
            "description": (
                "Triage of marketplace support cases written in Chinese, English or both. "
                "Authenticate with `Authorization: Bearer <key>` (or `X-API-Key: <key>`); "
                "keys are made with `triage keys create --role predict|analyst|admin`. "
                "Roles are ordered predict < analyst < admin. Every error is "
                '`{"error": {"code", "message", "details"}}`. '
                f"Limits: {settings.max_body_bytes} bytes per body, {settings.max_text_bytes} "
                f"bytes (UTF-8) per case text, {settings.batch_limit} cases per batch, "
                f"{settings.rate_limit_per_minute} requests per minute per key."
            ),
            "license": {"name": "Apache-2.0", "identifier": "Apache-2.0"},
        },
        "servers": [{"url": "/"}],
        "paths": {},
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer", "description": "API key"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
            "responses": responses,
            "schemas": {
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "additionalProperties": False,
                    "properties": {
                        "error": {
                            "type": "object",
                            "required": ["code", "message", "details"],
                            "additionalProperties": False,
                            "properties": {
                                "code": {"type": "string", "examples": ["invalid_field"]},
                                "message": {"type": "string"},
                                "details": {"type": "object"},
                            },
                        }
                    },
                }
            },
        },
    }


def _merge(document: dict[str, Any], fragment: Fragment, source: str) -> None:
    for path, item in fragment.get("paths", {}).items():
        target = document["paths"].setdefault(path, {})
        clash = set(target) & set(item)
        if clash:
            raise ValueError(f"{source}: {path} {sorted(clash)} already defined")
        target.update(item)
    for section, entries in fragment.get("components", {}).items():
        target = document["components"].setdefault(section, {})
        clash = set(target) & set(entries)
        if clash:
            raise ValueError(f"{source}: components/{section} {sorted(clash)} already defined")
        target.update(entries)


class OpenApi:
    """The document of one app, and validators for its schemas (built once, then cached)."""

    def __init__(self, settings: Settings):
        self.document = _base_document(settings)
        self._validators: dict[str, Draft202012Validator] = {}
        self._registry: Registry | None = None

    def add(self, fragment: Fragment, source: str = "<fragment>") -> None:
        """Merge a resource's paths and components; duplicate names are an error."""
        _merge(self.document, copy.deepcopy(fragment), source)
        self._validators.clear()
        self._registry = None

    def validator(self, schema_name: str) -> Draft202012Validator:
        """A validator for components/schemas/`schema_name`."""
        if schema_name not in self.document["components"]["schemas"]:
            raise KeyError(f"no schema {schema_name!r} in the OpenAPI document")
        return self.validator_at(f"/components/schemas/{schema_name}")

    def validator_at(self, pointer: str) -> Draft202012Validator:
        """A validator for the schema at JSON pointer `pointer` of the document (references
        inside it resolve against the whole document)."""
        if pointer not in self._validators:
            if self._registry is None:
                resource = Resource.from_contents(self.document, default_specification=DRAFT202012)
                self._registry = Registry().with_resource(DOCUMENT_URI, resource)
            self._validators[pointer] = Draft202012Validator(
                {"$ref": f"{DOCUMENT_URI}#{pointer}"}, registry=self._registry
            )
        return self._validators[pointer]


def openapi_for(app: Flask | None = None) -> OpenApi:
    """The `OpenApi` of `app` (the current app by default)."""
    return (app or current_app).extensions["triage.openapi"]


def init_app(app: Flask, settings: Settings) -> OpenApi:
    spec = OpenApi(settings)
    app.extensions["triage.openapi"] = spec
    return spec


def add_resource(app: Flask, build: Callable[[Settings], Fragment], settings: Settings) -> None:
    """Add a resource's fragment to `app`'s document."""
    openapi_for(app).add(build(settings), source=getattr(build, "__module__", "<resource>"))
