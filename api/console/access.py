"""Who is using the console: sign-in with an API key, the session cookie, CSRF and roles.

The API key is checked once, at sign-in, by the API's own machinery (`api.auth.check_key`:
the same hashes, revocation and rate limit); the browser then holds only a session cookie
(HttpOnly, SameSite=Strict, Secure over TLS) naming a server-side session in the database
(triage.sessions), which ends on sign-out, after `Settings.console_idle_minutes` unused, or when
its key is revoked. Every POST carries the session's CSRF token (a form field, or the
X-CSRF-Token header that htmx sends); the sign-in form, before any session exists, carries a
double-submit token that must equal the one in its own short-lived cookie.
"""

from __future__ import annotations

import datetime as dt
import functools
import hmac
import secrets
from collections.abc import Callable
from typing import Any, TypeVar

from flask import Response, g, request

from api.runtime import runtime
from triage.keys import role_allows
from triage.sessions import ConsoleSession, SessionStore

__all__ = [
    "COOKIE",
    "LOGIN_COOKIE",
    "check_csrf",
    "check_login_csrf",
    "current_session",
    "end_session",
    "load_session",
    "needs_role",
    "sessions",
    "set_cookie",
]

F = TypeVar("F", bound=Callable[..., Any])

COOKIE = "triage_console"
LOGIN_COOKIE = "triage_console_login"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"


class NotSignedIn(Exception):
    """The request needs a session and has none (the console redirects to sign-in)."""


class Forbidden(Exception):
    """The session's role is below the page's."""

    def __init__(self, role: str):
        super().__init__(role)
        self.role = role


class CsrfRefused(Exception):
    """A POST without the right CSRF token."""


def sessions() -> SessionStore:
    """The console's session store on this worker's database."""
    state = runtime()
    idle = dt.timedelta(minutes=state.settings.console_idle_minutes)
    return SessionStore(state.store, idle)


def load_session() -> ConsoleSession | None:
    """The session of this request's cookie (None without one), kept in `g`."""
    if "console_session" not in g:
        token = request.cookies.get(COOKIE)
        g.console_session = sessions().touch(token) if token else None
    return g.console_session


def current_session() -> ConsoleSession:
    """The signed-in session; `NotSignedIn` otherwise."""
    session = load_session()
    if session is None:
        raise NotSignedIn()
    return session


def needs_role(role: str) -> Callable[[F], F]:
    """Decorate a console view: a session of at least `role` (`NotSignedIn`, `Forbidden`)."""

    def decorate(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            session = current_session()
            if not role_allows(session.role, role):
                raise Forbidden(role)
            if request.method == "POST":
                check_csrf(session)
            return view(*args, **kwargs)

        wrapper.required_role = role  # type: ignore[attr-defined]
        return wrapper  # type: ignore[return-value]

    return decorate


def _same(given: str | None, expected: str | None) -> bool:
    return bool(given and expected) and hmac.compare_digest(
        given.encode("utf-8"),
        expected.encode("utf-8"),  # type: ignore[union-attr]
    )


def check_csrf(session: ConsoleSession) -> None:
    """`CsrfRefused` unless the request carries the session's CSRF token."""
    given = request.headers.get(CSRF_HEADER) or request.form.get(CSRF_FIELD)
    if not _same(given, session.csrf_token):
        raise CsrfRefused()


def login_token() -> str:
    """The sign-in form's double-submit token: the one of this browser's cookie, or a new one."""
    token = request.cookies.get(LOGIN_COOKIE)
    return token if token and len(token) == 43 else secrets.token_urlsafe(32)


def check_login_csrf() -> None:
    """`CsrfRefused` unless the sign-in form's token equals its cookie's."""
    if not _same(request.form.get(CSRF_FIELD), request.cookies.get(LOGIN_COOKIE)):
        raise CsrfRefused()


def _secure() -> bool:
    return request.is_secure or runtime().settings.console_secure_cookies


def set_cookie(response: Response, name: str, value: str, max_age: int | None = None) -> None:
    """A console cookie: HttpOnly, SameSite=Strict, /console only, Secure over TLS (or always,
    with ``console_secure_cookies``, behind a proxy that ends TLS)."""
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path="/console",
        httponly=True,
        samesite="Strict",
        secure=_secure(),
    )


def end_session(response: Response) -> None:
    """Close this request's session (if any) and clear its cookie."""
    token = request.cookies.get(COOKIE)
    if token:
        sessions().close(token)
    response.delete_cookie(
        COOKIE, path="/console", httponly=True, samesite="Strict", secure=_secure()
    )
