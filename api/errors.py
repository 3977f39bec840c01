"""The one place where errors become HTTP responses: ``{"error": {"code", "message", "details"}}``.

ApiError(status, code, message, details)     raised by views and helpers in api/
triage.errors.InputError                     422 invalid_input
triage.errors.ConflictError                  409 conflict (e.g. a suggestion already decided)
triage.errors.NotFoundError                  404 not_found (a record: suggestion, order...)
triage.errors.StoreError                     503 database_unavailable (with Retry-After)
triage.errors.ModelError                     503 model_unavailable (ModelNotFoundError too:
                                             views that take a model name map it to 404)
werkzeug HTTPException (404, 405, 413...)    the same status with a JSON body
anything else                                500 internal_error, logged, no traceback sent
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Flask, Response, jsonify
from werkzeug.exceptions import HTTPException, InternalServerError

from triage.errors import (
    ConfigError,
    ConflictError,
    InputError,
    ModelError,
    NotFoundError,
    StoreError,
)

__all__ = ["ApiError", "error_response", "init_app"]

log = logging.getLogger("triage.api")

RETRY_AFTER_SECONDS = 5
#: longest message a library error puts in a response: ids and values a request sent may be
#: quoted in it, and an error must never echo a large (or personal) input back
MAX_MESSAGE = 300

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    413: "body_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    431: "headers_too_large",
}


class ApiError(Exception):
    """An error with its HTTP status, a stable machine-readable code and a human message."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = dict(details or {})
        self.headers = dict(headers or {})


def error_response(
    status: int,
    code: str,
    message: str,
    details: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> Response:
    """A JSON error response in the service's one error format."""
    response = jsonify(
        {"error": {"code": code, "message": message, "details": dict(details or {})}}
    )
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _api_error(error: ApiError) -> Response:
    return error_response(error.status, error.code, error.message, error.details, error.headers)


def _http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        return _internal_error(error)
    headers = {}
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(sorted(error.valid_methods))  # type: ignore[attr-defined]
    message = {
        404: "no such resource; see /openapi.json for the endpoints",
        405: "method not allowed on this resource",
        413: "request body over the size limit",
    }.get(status, error.description or error.name)
    return error_response(status, _HTTP_CODES.get(status, "http_error"), message, headers=headers)


def _message(error: Exception) -> str:
    """The error's message, cut to `MAX_MESSAGE` characters."""
    text = str(error)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _input_error(error: InputError) -> Response:
    return error_response(422, "invalid_input", _message(error))


def _conflict(error: ConflictError) -> Response:
    return error_response(409, "conflict", _message(error))


def _not_found(error: NotFoundError) -> Response:
    return error_response(404, "not_found", _message(error))


def _store_error(error: StoreError) -> Response:
    log.warning("database error: %s", error)
    return error_response(
        503,
        "database_unavailable",
        "the database is unavailable; retry later",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _model_error(error: ModelError) -> Response:
    log.warning("model error: %s", error)
    return error_response(
        503,
        "model_unavailable",
        _message(error),
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def _internal_error(error: Exception) -> Response:
    original = getattr(error, "original_exception", None) or error
    log.error("unhandled error: %s", type(original).__name__, exc_info=original)
    return error_response(500, "internal_error", "internal error; the server log has the details")


def init_app(app: Flask) -> None:
    """Register the handlers that turn every error into the JSON error format."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(InputError, _input_error)
    app.register_error_handler(ConflictError, _conflict)
    app.register_error_handler(NotFoundError, _not_found)
    app.register_error_handler(StoreError, _store_error)
    app.register_error_handler(ModelError, _model_error)
    app.register_error_handler(ConfigError, _internal_error)
    app.register_error_handler(InternalServerError, _internal_error)
    app.register_error_handler(HTTPException, _http_error)
