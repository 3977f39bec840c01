"""Headers on every response: security headers, no caching of API answers, a request id."""

from __future__ import annotations

import re
import uuid

from flask import Flask, Response, g, request

__all__ = ["init_app", "request_id"]

_API_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
_PAGE_CSP = (
    "default-src 'none'; style-src 'self'; img-src 'self' data:; "
    "frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
)
_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def request_id() -> str:
    """The id of this request: the caller's X-Request-ID when it is sane, else a new one."""
    if "request_id" not in g:
        given = request.headers.get("X-Request-ID", "")
        g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex
    return g.request_id


def _secure(response: Response) -> Response:
    headers = response.headers
    for name, value in _HEADERS.items():
        headers.setdefault(name, value)
    is_page = response.mimetype == "text/html" or request.path.startswith("/static/")
    headers.setdefault("Content-Security-Policy", _PAGE_CSP if is_page else _API_CSP)
    headers.setdefault("Cache-Control", "no-store")
    if request.is_secure:
        headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    headers["X-Request-ID"] = request_id()
    return response


def init_app(app: Flask) -> None:
    app.after_request(_secure)
