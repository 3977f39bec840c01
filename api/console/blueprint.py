"""The console's blueprint: its pages' common parts (template globals, errors as pages, the
Content Security Policy) and sign-in, sign-out and the language switch.

Pages are server-rendered Jinja templates (api/templates/console/, autoescaped: case texts
are untrusted) with htmx (api/static/vendor/, no CDN) for partial updates. The policy allows
scripts, styles, images and requests from the app's own origin only: no inline script runs,
and every script of the console is a static file.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, Response, g, make_response, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from api.auth import check_key
from api.console import access
from api.console.i18n import LANGUAGES, best_language, translate
from api.errors import ApiError
from api.runtime import runtime
from triage.errors import ConflictError, InputError, ModelError, NotFoundError, StoreError
from triage.keys import role_allows

__all__ = ["CONSOLE_CSP", "blueprint", "local_target", "page"]

log = logging.getLogger("triage.api")

blueprint = Blueprint("console", __name__, url_prefix="/console")

CONSOLE_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
#: the pages of the navigation: endpoint, label, the role that sees it
NAVIGATION = (
    ("console.triage_page", "nav.triage", "predict"),
    ("console.review_page", "nav.review", "analyst"),
    ("console.suggestions_page", "nav.suggestions", "predict"),
    ("console.orders_page", "nav.orders", "analyst"),
    ("console.models_page", "nav.models", "analyst"),
    ("console.monitoring_page", "nav.monitoring", "analyst"),
)


def language() -> str:
    """The interface language of this request."""
    if "console_language" not in g:
        session = access.load_session() if request.cookies.get(access.COOKIE) else None
        chosen = session.language if session else request.args.get("lang")
        g.console_language = best_language(chosen)
    return g.console_language


@blueprint.app_template_global()
def t(key: str, **values: str) -> str:
    """A string of the interface in this request's language."""
    return translate(key, language(), **values)


@blueprint.context_processor
def _globals() -> dict[str, Any]:
    session = g.get("console_session")
    return {
        "lang": language(),
        "session": session,
        "csrf": session.csrf_token if session else "",
        "can": (lambda role: session is not None and role_allows(session.role, role)),
        "navigation": NAVIGATION,
        "category_name": _category_name,
    }


def _category_name(category_id: str) -> str:
    taxonomy = runtime().taxonomy
    if category_id in taxonomy:
        return taxonomy[category_id].name(language())
    return category_id


def page(template: str, status: int = 200, **context: Any) -> Response:
    """A console template rendered as the response."""
    return make_response(render_template(f"console/{template}", **context), status)


def local_target(target: str | None) -> str:
    """`target` when it is a path of the console, else the console's start page."""
    if target and target.startswith("/console") and not urlsplit(target).netloc:
        return target
    return url_for("console.triage_page")


# -- errors as pages ---------------------------------------------------------------------
def _error_page(status: int, message: str) -> Response:
    """The error as a page, or as a fragment in place of what an htmx request asked for."""
    fragment = bool(request.headers.get("HX-Request"))
    return page("_error.html" if fragment else "error.html", status, message=message)


@blueprint.errorhandler(access.NotSignedIn)
def _not_signed_in(_error: Exception) -> ResponseReturnValue:
    target = url_for("console.login", next=request.full_path.rstrip("?"))
    if request.headers.get("HX-Request"):
        response = make_response("", 401)
        response.headers["HX-Redirect"] = target
        return response
    return redirect(target)


@blueprint.errorhandler(access.Forbidden)
def _forbidden(error: access.Forbidden) -> ResponseReturnValue:
    return _error_page(403, t("forbidden", role=error.role))


@blueprint.errorhandler(access.CsrfRefused)
def _csrf_refused(_error: Exception) -> ResponseReturnValue:
    return _error_page(403, t("csrf"))


@blueprint.errorhandler(ApiError)
def _api_error(error: ApiError) -> ResponseReturnValue:
    return _error_page(error.status, error.message)


@blueprint.errorhandler(InputError)
def _input_error(error: InputError) -> ResponseReturnValue:
    return _error_page(422, str(error)[:300])


@blueprint.errorhandler(ConflictError)
def _conflict(error: ConflictError) -> ResponseReturnValue:
    return _error_page(409, str(error)[:300])


@blueprint.errorhandler(NotFoundError)
def _not_found(error: NotFoundError) -> ResponseReturnValue:
    return _error_page(404, str(error)[:300])


@blueprint.errorhandler(StoreError)
def _store_error(error: StoreError) -> ResponseReturnValue:
    log.warning("database error: %s", error)
    return _error_page(503, "the database is unavailable; retry later")


@blueprint.errorhandler(ModelError)
def _model_error(error: ModelError) -> ResponseReturnValue:
    log.warning("model error: %s", error)
    return _error_page(503, str(error)[:300])


@blueprint.after_request
def _policy(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CONSOLE_CSP
    response.headers["Vary"] = "Cookie, HX-Request, Accept-Language"
    return response


# -- sign-in, sign-out, language ---------------------------------------------------------
@blueprint.get("/")
def start() -> ResponseReturnValue:
    """/console/ is /console."""
    return redirect(url_for("console.triage_page"))


@blueprint.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The sign-in form; a posted key opens a session."""
    target = local_target(request.values.get("next"))
    error = None
    status = 200
    if request.method == "POST":
        access.check_login_csrf()
        token = request.form.get("api_key", "").strip()
        try:
            caller = check_key(token) if token else None
        except ApiError as exc:
            if exc.status != 401:
                raise
            caller = None
        if caller is not None and caller.key_id is not None:
            store = access.sessions()
            previous = request.cookies.get(access.COOKIE)
            if previous:  # a new session replaces the browser's old one
                store.close(previous)
            store.purge()  # and the sessions idle too long go
            chosen = request.form.get("lang")
            cookie, _session = store.open(caller.key_id, chosen if chosen in LANGUAGES else None)
            log.info("console: key %s signed in", caller.key_id)
            response = make_response(redirect(target))
            access.set_cookie(response, access.COOKIE, cookie)
            response.delete_cookie(access.LOGIN_COOKIE, path="/console")
            return response
        error = t("signin.wrong")
        status = 401
    login_token = access.login_token()
    response = page("login.html", status, error=error, next=target, login_token=login_token)
    access.set_cookie(response, access.LOGIN_COOKIE, login_token, max_age=3600)
    return response


@blueprint.post("/logout")
def logout() -> ResponseReturnValue:
    """End the session (with its CSRF token: a page elsewhere cannot sign anyone out)."""
    session = access.current_session()
    access.check_csrf(session)
    response = make_response(redirect(url_for("console.login")))
    access.end_session(response)
    return response


@blueprint.post("/language")
def switch_language() -> ResponseReturnValue:
    """Switch the interface language of this session."""
    session = access.current_session()
    access.check_csrf(session)
    chosen = request.form.get("lang")
    if chosen in LANGUAGES:
        access.sessions().set_language(request.cookies[access.COOKIE], chosen)
    return redirect(local_target(request.form.get("next")))
