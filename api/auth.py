"""API keys on requests: who is calling, whether the role may, and the per-key rate limit.

A view declares what it needs with `@requires("analyst")`. The key comes from
``Authorization: Bearer <token>`` or ``X-API-Key: <token>``; tokens are checked against their
stored SHA-256 in constant time (triage.keys). Roles are ordered predict < analyst < admin.

The rate limit is a fixed one-minute window per key counted in the database (in the same
transaction as the key lookup), so that it holds across all gunicorn workers and machines sharing
a database: every authenticated request counts, and over `Settings.rate_limit_per_minute` a key
gets 429 with Retry-After until the window ends (0 turns the limit off).
With ``require_api_keys`` off, a request without a key acts as admin (for trusted local use
only); a key that is given is still checked.

When the database is down, every request with a key answers 503 (its key cannot be checked),
except in views declared ``@requires(role, without_db=True)`` (categorize) on a service
configured with ``log_without_db``: there a key that this worker checked against the database
in the last `OUTAGE_TRUST_SECONDS` is accepted from memory (token verified against its stored
hash, in constant time), unmetered, so that the view can answer without the database.
"""

from __future__ import annotations

import functools
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from flask import current_app, g, request

from api.errors import ApiError
from api.runtime import runtime
from triage.errors import StoreError
from triage.keys import parse_token, role_allows, validate_role, verify_token
from triage.store import KeyRecord

__all__ = ["Caller", "check_key", "current_caller", "requires"]

log = logging.getLogger("triage.api")

F = TypeVar("F", bound=Callable[..., Any])
WINDOW_SECONDS = 60
#: how long a key checked against the database is trusted from memory during an outage
OUTAGE_TRUST_SECONDS = 300.0
_RECENT = "triage.recent_keys"


@dataclass(frozen=True)
class Caller:
    """The authenticated caller of this request (key_id None when keys are not required)."""

    key_id: str | None
    role: str


def _token() -> str | None:
    header = request.headers.get("Authorization", "")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise ApiError(
                401,
                "invalid_api_key",
                "use 'Authorization: Bearer <key>' or 'X-API-Key: <key>'",
                headers={"WWW-Authenticate": "Bearer"},
            )
        return value.strip()
    return request.headers.get("X-API-Key", "").strip() or None


class _RecentKeys:
    """Keys this worker checked against the database lately (records with their hashes)."""

    def __init__(self) -> None:
        self._records: dict[str, tuple[KeyRecord, float]] = {}
        self._lock = threading.Lock()

    def remember(self, record: KeyRecord) -> None:
        with self._lock:
            self._records[record.id] = (record, time.monotonic())

    def recall(self, key_id: str, token: str) -> KeyRecord | None:
        with self._lock:
            record, checked = self._records.get(key_id, (None, 0.0))
        if record is None or time.monotonic() - checked > OUTAGE_TRUST_SECONDS:
            return None
        return record if verify_token(token, record.token_hash) else None


def _outage_caller(key_id: str | None, token: str) -> Caller | None:
    """The caller of a key checked lately, when the database cannot check it now."""
    recent = _recent_keys()
    record = recent.recall(key_id, token) if key_id and recent is not None else None
    if record is None:
        return None
    log.warning("database unavailable: key %s accepted from memory (log_without_db)", key_id)
    return Caller(key_id=record.id, role=record.role)


def _recent_keys() -> _RecentKeys | None:
    return current_app.extensions.get(_RECENT)


def _authenticate(without_db: bool = False) -> Caller:
    """The caller, with this request counted against its key's rate limit."""
    state = runtime()
    token = _token()
    if token is None:
        if not state.settings.require_api_keys:
            return Caller(key_id=None, role="admin")
        raise ApiError(
            401,
            "missing_api_key",
            "this operation needs an API key: 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return check_key(token, without_db)


def check_key(token: str, without_db: bool = False) -> Caller:
    """The caller of `token`, counted against its key's rate limit: `ApiError` 401 for an
    unknown, malformed or revoked key, 429 over the limit (what a request with the key in its
    headers gets; the console's sign-in checks the key it is given with it)."""
    state = runtime()
    limit = state.settings.rate_limit_per_minute
    now = time.time()
    window = int(now // WINDOW_SECONDS * WINDOW_SECONDS) if limit > 0 else None
    key_id = parse_token(token)
    try:
        record, count = (
            state.store.authenticate_and_count(key_id, token, window) if key_id else (None, 0)
        )
    except StoreError:
        caller = (
            _outage_caller(key_id, token) if without_db and state.settings.log_without_db else None
        )
        if caller is None:
            raise
        return caller
    if record is not None:
        recent = _recent_keys()
        if recent is not None:
            recent.remember(record)
    if record is None:
        raise ApiError(
            401,
            "invalid_api_key",
            "the API key is unknown, malformed or revoked",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if window is not None:
        g.rate_limit = (limit, max(limit - count, 0))
        if count > limit:
            retry = max(1, math.ceil(window + WINDOW_SECONDS - now))
            raise ApiError(
                429,
                "rate_limited",
                f"over {limit} requests per minute for this key; retry in {retry} s",
                {"limit": limit, "retry_after": retry},
                headers={"Retry-After": str(retry)},
            )
    return Caller(key_id=record.id, role=record.role)


def current_caller() -> Caller:
    """The caller authenticated for this request (only inside a `requires` view)."""
    return g.caller


def requires(role: str, *, without_db: bool = False) -> Callable[[F], F]:
    """Decorate a view: 401 without a valid key, 403 for a lower role, 429 over the limit.

    `without_db`: the view can answer with the database down (see the module docstring).
    """
    validate_role(role)

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            caller = _authenticate(without_db)
            if not role_allows(caller.role, role):
                raise ApiError(
                    403,
                    "insufficient_role",
                    f"this operation needs the {role} role; the key has {caller.role}",
                    {"required": role, "granted": caller.role},
                )
            g.caller = caller
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def init_app(app: Any) -> None:
    """Report the rate limit state on every response of an authenticated request; keep the
    keys checked lately for outages."""
    app.extensions[_RECENT] = _RecentKeys()

    @app.after_request
    def _rate_headers(response: Any) -> Any:
        state = g.get("rate_limit")
        if state is not None:
            response.headers["X-RateLimit-Limit"] = str(state[0])
            response.headers["X-RateLimit-Remaining"] = str(state[1])
        return response
