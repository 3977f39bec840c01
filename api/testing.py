"""A Flask test client that holds every response to the app's own OpenAPI document.

    app.test_client_class = ConformingClient
    client = app.test_client()
    client.get("/v1/taxonomy")      # AssertionError if status or body break the document

For each response: the operation must exist in the document (otherwise only a 404/405 in the
error format is allowed), its status must be documented, no status may be 5xx except a
documented 503, and a JSON body must validate against the documented schema. Tests of every
resource use it, so that the document is checked against real behaviour, not just against itself.
"""

from __future__ import annotations

import re
from typing import Any

from flask.testing import FlaskClient

from api.openapi import openapi_for

__all__ = ["ConformingClient", "check_response"]

#: paths outside the JSON API's document: static files and the operator console's pages
_PUBLIC_FILES = ("/static/", "/console")


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")


def _template_regex(template: str) -> re.Pattern:
    pattern = re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template))
    return re.compile(f"^{pattern}$")


def check_response(app: Any, method: str, path: str, response: Any) -> None:
    """Raise AssertionError when `response` to `method path` disagrees with the document."""
    spec = openapi_for(app)
    document = spec.document
    status = response.status_code
    assert status < 500 or status == 503, (
        f"{method} {path} answered {status}: {response.data[:300]!r}"
    )
    if path.startswith(_PUBLIC_FILES):
        return
    template = next((t for t in document["paths"] if _template_regex(t).match(path)), None)
    operation = document["paths"].get(template, {}).get(method.lower()) if template else None
    if operation is None:
        assert status in (404, 405), f"{method} {path}: not in the document but answered {status}"
        spec.validator("Error").validate(response.get_json())
        return
    responses = operation["responses"]
    key = str(status) if str(status) in responses else "default"
    assert key in responses, f"{method} {template}: status {status} is not documented"
    pointer = f"/paths/{_escape(template)}/{method.lower()}/responses/{key}"
    entry = responses[key]
    if "$ref" in entry:
        pointer = entry["$ref"][1:]
        entry = document["components"]["responses"][entry["$ref"].rsplit("/", 1)[-1]]
    content = entry.get("content", {})
    if response.mimetype == "application/json":
        assert "application/json" in content, f"{method} {template} {status}: JSON not documented"
        schema_pointer = f"{pointer}/content/{_escape('application/json')}/schema"
        spec.validator_at(schema_pointer).validate(response.get_json())
    else:
        assert response.mimetype in content, (
            f"{method} {template} {status}: {response.mimetype} not documented"
        )


class ConformingClient(FlaskClient):
    """`FlaskClient` whose every response is checked with `check_response`."""

    def open(self, *args: Any, **kwargs: Any) -> Any:
        response = super().open(*args, **kwargs)
        request = response.request
        check_response(self.application, request.method, request.path, response)
        return response
