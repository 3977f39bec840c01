"""The application factory: `create_app(config=None)`.

Settings come from defaults, then ``TRIAGE_*`` environment variables, then `config`: lower-case
keys are `triage.config.Settings` fields (``models_dir``, ``data_dir``, ``database_url``,
``batch_limit``...), upper-case keys go to Flask's config (``TESTING``), and ``load_models``
(default True) says whether to load and warm the models now.

    >>> app = create_app({"data_dir": "/tmp/triage", "TESTING": True})   # doctest: +SKIP

Each worker calls this once: the database is opened (and migrated when behind), the taxonomy
read, the resources of `RESOURCES` registered with their part of the OpenAPI document, and
finally the models loaded and warmed. A watcher thread then reloads a model whenever its
champion changes in the registry (hot reload, `api.serving.ModelSet.watch`), checking every
``model_reload_seconds`` (0 turns it off).
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

from flask import Flask

from api import auth, errors, openapi, runtime, security
from triage.config import Settings

__all__ = ["RESOURCES", "create_app"]

#: The resources of the service: pairs of a views module, with `blueprint` and, optionally,
#: `setup(state)` (called with the `api.runtime.Runtime` before the models load, to add a model
#: loader for instance), and a schemas module with `openapi(settings)`, its part of the OpenAPI
#: document. A new resource (orders, monitoring...) is two modules and one more line here.
RESOURCES: tuple[tuple[str, str], ...] = (
    ("api.views.system", "api.schemas.system"),
    ("api.views.cases", "api.schemas.cases"),
    ("api.views.feedback", "api.schemas.feedback"),
    ("api.views.predictions", "api.schemas.predictions"),
    ("api.views.taxonomy", "api.schemas.taxonomy"),
    ("api.views.models", "api.schemas.models"),
    ("api.views.monitoring", "api.schemas.monitoring"),
    ("api.views.orders", "api.schemas.orders"),
    ("api.views.suggestions", "api.schemas.suggestions"),
    ("api.views.docs", "api.schemas.docs"),
)


def create_app(config: Mapping[str, Any] | None = None) -> Flask:
    """Build the WSGI application; see the module docstring for `config`."""
    config = dict(config or {})
    flask_config = {k: config.pop(k) for k in list(config) if k.isupper()}
    load_models = bool(config.pop("load_models", True))
    settings = Settings.from_env(config)

    app = Flask(__name__, static_folder="static", template_folder="templates")
    app.config.update(
        # one byte over the limit, so that api.validation sees (and refuses) an oversize
        # chunked body instead of werkzeug silently cutting it at the limit
        MAX_CONTENT_LENGTH=settings.max_body_bytes + 1,
        # no implicit OPTIONS answers: every method the app answers is in the document
        PROVIDE_AUTOMATIC_OPTIONS=False,
        TRIAGE_SETTINGS=settings,
    )
    app.config.update(flask_config)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.json.compact = True  # type: ignore[attr-defined]

    errors.init_app(app)
    security.init_app(app)
    auth.init_app(app)
    openapi.init_app(app, settings)
    state = runtime.init_app(app, settings)
    for views_name, schemas_name in RESOURCES:
        views = importlib.import_module(views_name)
        app.register_blueprint(views.blueprint)
        openapi.add_resource(app, importlib.import_module(schemas_name).openapi, settings)
        if hasattr(views, "setup"):  # e.g. state.serve_risk_model()
            views.setup(state)
    # the operator console's pages (HTML, not in the OpenAPI document of the JSON API)
    app.register_blueprint(importlib.import_module("api.console").blueprint)
    if load_models:
        state.models.load()
        if settings.model_reload_seconds > 0:  # pick up promotions and rollbacks (hot reload)
            state.models.watch(settings.model_reload_seconds)
    return app
