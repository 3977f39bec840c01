"""``GET /openapi.json`` (the OpenAPI 3.1 document) and ``GET /docs`` (the same, readable).

The docs page is rendered on the server from the document, with a local stylesheet: it works
offline, with no script and nothing fetched from a CDN.
"""

from __future__ import annotations

import json
import re
from typing import Any

from flask import Blueprint, jsonify, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from api.openapi import openapi_for

__all__ = ["blueprint"]

blueprint = Blueprint("docs", __name__)

_METHODS = ("get", "post", "put", "patch", "delete")


@blueprint.get("/openapi.json")
def openapi_document() -> ResponseReturnValue:
    """The OpenAPI document of this service."""
    return jsonify(openapi_for().document)


def _prose(text: str) -> Markup:
    """Escaped text with `backticks` as <code>."""
    return Markup(re.sub(r"`([^`]+)`", r"<code>\1</code>", str(escape(text))))


def _schema_html(schema: dict[str, Any] | None) -> Markup:
    """A schema as links to the named schemas it is made of, or as compact JSON."""
    if not schema:
        return Markup("")
    if "$ref" in schema:
        name = _schema_name(schema)
        return Markup('<a href="#schema-{0}">{0}</a>').format(name)
    for combinator, word in (("oneOf", " or "), ("anyOf", " or "), ("allOf", " and ")):
        parts = schema.get(combinator)
        if parts and all("$ref" in part for part in parts) and len(schema) == 1:
            return Markup(word).join(_schema_html(part) for part in parts)
    if schema.get("type") == "array" and "$ref" in schema.get("items", {}) and len(schema) == 2:
        return Markup("array of ") + _schema_html(schema["items"])
    return Markup("<code>{}</code>").format(json.dumps(schema, ensure_ascii=False))


def _schema_name(schema: dict[str, Any] | None) -> str | None:
    if not schema:
        return None
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    return None


def _operations(document: dict[str, Any]) -> list[dict[str, Any]]:
    out = []
    for path, item in document["paths"].items():
        for method in _METHODS:
            op = item.get(method)
            if op is None:
                continue
            body = (op.get("requestBody") or {}).get("content", {}).get("application/json", {})
            responses = []
            for status, response in op.get("responses", {}).items():
                if "$ref" in response:
                    response = document["components"]["responses"][_schema_name(response)]
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                responses.append(
                    {
                        "status": status,
                        "description": _prose(response.get("description", "")),
                        "schema": _schema_html(schema),
                    }
                )
            out.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "id": op.get("operationId", f"{method}-{path}"),
                    "tag": (op.get("tags") or ["other"])[0],
                    "summary": _prose(op.get("summary", "")),
                    "description": _prose(op.get("description", "")),
                    "role": op.get("x-required-role"),
                    "parameters": [
                        {
                            "name": p["name"],
                            "in": p["in"],
                            "schema": _schema_html(p.get("schema")),
                            "description": _prose(p.get("description", "")),
                        }
                        for p in op.get("parameters", [])
                    ],
                    "body": _schema_html(body.get("schema")) if body else "",
                    "example": json.dumps(body["example"], ensure_ascii=False, indent=2)
                    if "example" in body
                    else "",
                    "responses": responses,
                }
            )
    return out


@blueprint.get("/docs")
def docs_page() -> ResponseReturnValue:
    """A readable page of the OpenAPI document (no JavaScript, no CDN)."""
    document = openapi_for().document
    schemas = {
        name: json.dumps(schema, ensure_ascii=False, indent=2)
        for name, schema in sorted(document["components"]["schemas"].items())
    }
    info = {**document["info"], "description": _prose(document["info"]["description"])}
    return render_template(
        "docs.html", info=info, operations=_operations(document), schemas=schemas
    )
