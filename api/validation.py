"""Request bodies and query parameters, validated at the edge against the OpenAPI schemas.

Statuses, in the order they are checked:

    415 unsupported_media_type   not ``application/json`` (charset, if given, must be UTF-8)
    413 body_too_large           over `Settings.max_body_bytes`
    400 invalid_json             not UTF-8, not JSON, NaN/Infinity, nested too deeply
    400 invalid_string           a string with an unpaired surrogate
    400 missing_field / wrong_type / unknown_field        the shape is wrong
    413 too_many_items           an array over its ``maxItems`` (the batch limit)
    422 invalid_value            enum, pattern, length, range, NUL characters

Every error names the offending field as a path such as ``cases[3].text`` in
``details.field``. Messages never echo the offending value, which may be large or personal.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any

from flask import request
from jsonschema.exceptions import ValidationError

from api.errors import ApiError
from api.openapi import NO_NUL, openapi_for

__all__ = ["field_path", "parse_json_body", "query_choice", "query_int"]

_SHAPE = {"type", "required", "additionalProperties", "unevaluatedProperties", "oneOf", "anyOf"}
_BOUNDS = {
    "minItems": "must have at least {} items",
    "minLength": "must have at least {} characters",
    "maxLength": "must have at most {} characters",
    "minimum": "must be at least {}",
    "maximum": "must be at most {}",
    "const": "must be {}",
}
_JSON_TYPES = {
    dict: "object",
    list: "array",
    str: "string",
    bool: "boolean",
    int: "integer",
    float: "number",
    type(None): "null",
}


def field_path(parts: Iterable[Any]) -> str:
    """``("cases", 3, "text")`` → ``cases[3].text``; the empty path is ``(body)``."""
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "(body)"


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _read_body(max_bytes: int) -> bytes:
    """The raw body, at most `max_bytes`: also for chunked bodies, which have no length (the
    factory sets MAX_CONTENT_LENGTH one byte over, so that a body over the limit is seen)."""
    chunks, size = [], 0
    while chunk := request.stream.read(65536):
        chunks.append(chunk)
        size += len(chunk)
        if size > max_bytes:
            raise ApiError(
                413, "body_too_large", f"request body over {max_bytes} bytes", {"limit": max_bytes}
            )
    return b"".join(chunks)


def _read_json(max_bytes: int) -> Any:
    if request.mimetype != "application/json":
        raise ApiError(
            415,
            "unsupported_media_type",
            "send the body as JSON with Content-Type: application/json",
            {"content_type": (request.content_type or "")[:100]},
        )
    charset = request.mimetype_params.get("charset", "utf-8").lower()
    if charset not in ("utf-8", "utf8"):
        raise ApiError(415, "unsupported_media_type", "the JSON body must be UTF-8")
    if request.content_length is not None and request.content_length > max_bytes:
        raise ApiError(
            413, "body_too_large", f"request body over {max_bytes} bytes", {"limit": max_bytes}
        )
    raw = _read_body(max_bytes)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "the request body is empty; send a JSON object")
    try:
        return json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as exc:
        raise ApiError(
            400, "invalid_json", f"the body is not valid UTF-8 (byte {exc.start})"
        ) from None
    except RecursionError:
        raise ApiError(400, "invalid_json", "the JSON body is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "invalid_json", f"the body is not valid JSON: {exc}") from None


def _strings(value: Any, path: tuple) -> Iterator[tuple[tuple, str]]:
    stack = [(path, value)]
    while stack:
        where, item = stack.pop()
        if isinstance(item, str):
            yield where, item
        elif isinstance(item, dict):
            stack.extend((where + (k,), v) for k, v in item.items())
            stack.extend((where, k) for k in item)
        elif isinstance(item, list):
            stack.extend((where + (i,), v) for i, v in enumerate(item))


def _check_strings(body: Any) -> None:
    for where, text in _strings(body, ()):
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise ApiError(
                400,
                "invalid_string",
                f"{field_path(where)}: contains an unpaired UTF-16 surrogate",
                {"field": field_path(where)},
            ) from None
        if "\x00" in text:
            raise ApiError(
                422,
                "invalid_value",
                f"{field_path(where)}: contains a NUL character",
                {"field": field_path(where)},
            )


def _json_type(value: Any) -> str:
    return _JSON_TYPES.get(type(value), type(value).__name__)


def _translate(error: ValidationError) -> ApiError:
    path = list(error.absolute_path)
    keyword = error.validator
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "required":
        missing = [n for n in error.validator_value if n not in error.instance]
        where = field_path(path + missing[:1])
        return ApiError(400, "missing_field", f"{where}: required", {"field": where})
    if keyword in ("additionalProperties", "unevaluatedProperties"):
        known = set(schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in known)
        where = field_path(path + extra[:1])
        return ApiError(400, "unknown_field", f"{where}: unknown field", {"field": where})
    where = field_path(path)
    if keyword == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        message = f"{where}: expected {expected}, got {_json_type(error.instance)}"
        return ApiError(400, "wrong_type", message, {"field": where, "expected": expected})
    if keyword in _SHAPE:
        return ApiError(
            400, "wrong_type", f"{where}: does not match any accepted shape", {"field": where}
        )
    if keyword == "maxItems":
        limit = error.validator_value
        return ApiError(
            413,
            "too_many_items",
            f"{where}: more than {limit} items",
            {"field": where, "limit": limit},
        )
    detail: dict[str, Any] = {"field": where, "rule": keyword}
    bound = error.validator_value
    if keyword == "enum":
        detail["allowed"] = list(bound)
        message = f"{where}: must be one of {', '.join(json.dumps(v) for v in bound)}"
    elif keyword == "pattern" and schema.get("x-pattern-message"):
        message = f"{where}: {schema['x-pattern-message']}"
    elif keyword == "not" and error.validator_value == NO_NUL["not"]:
        message = f"{where}: contains a NUL character"
    elif keyword in _BOUNDS:
        detail["limit"] = bound
        message = f"{where}: {_BOUNDS[keyword].format(bound)}"
    else:
        message = f"{where}: does not satisfy {keyword}"
    return ApiError(422, "invalid_value", message, detail)


def parse_json_body(schema: str | Callable[[Any], str], max_bytes: int) -> Any:
    """The request's JSON body, validated against components/schemas/`schema` (or the schema
    that `schema(body)` names, for bodies of several shapes)."""
    body = _read_json(max_bytes)
    _check_strings(body)
    validator = openapi_for().validator(schema if isinstance(schema, str) else schema(body))
    error = min(validator.iter_errors(body), key=_priority, default=None)
    if error is not None:
        raise _translate(error)
    return body


def _priority(error: ValidationError) -> tuple:
    """Shape errors (400) first, then size (413), then values (422); then the first field."""
    rank = 0 if error.validator in _SHAPE else 1 if error.validator == "maxItems" else 2
    return rank, [(0, p, "") if isinstance(p, int) else (1, 0, str(p)) for p in error.path]


def query_int(name: str, default: int, minimum: int, maximum: int) -> int:
    """An integer query parameter: 400 when not an integer, 422 when out of range."""
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiError(400, "wrong_type", f"{name}: expected an integer", {"field": name}) from None
    if not minimum <= value <= maximum:
        raise ApiError(
            422,
            "invalid_value",
            f"{name}: must be between {minimum} and {maximum}",
            {"field": name, "rule": "range"},
        )
    return value


def query_choice(name: str, default: str, choices: Sequence[str], meaning: str = "") -> str:
    """A query parameter that must be one of `choices`: 422 otherwise (`meaning` follows the
    list in the message, e.g. " (day, week, month)")."""
    value = request.args.get(name, default)
    if value not in choices:
        raise ApiError(
            422,
            "invalid_value",
            f"{name}: must be one of {', '.join(choices)}{meaning}",
            {"field": name, "rule": "enum"},
        )
    return value
