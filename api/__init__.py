"""The HTTP service of case-triage: a Flask application factory and thin views over `triage`.

    >>> from api import create_app
    >>> app = create_app({"data_dir": "/tmp/triage"})   # doctest: +SKIP

Run it with ``triage serve`` (gunicorn). Layout: factory.py builds the app; runtime.py and
serving.py hold the per-worker database, taxonomy, models (and their loaders) and order service;
auth.py, validation.py, errors.py and security.py are the edges; views/ has the handlers of one
resource per module, schemas/ the OpenAPI fragment of each; openapi.py assembles the document
served at /openapi.json and /docs.

Importing `api` (or `api.commands`, which the ``triage`` command loads through its
``triage.commands`` entry point) loads nothing heavy: `create_app` imports Flask, SQLAlchemy and
the models' libraries on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from triage.lazy import lazy_exports

if TYPE_CHECKING:
    from api.factory import create_app

__all__ = ["create_app"]

__getattr__, __dir__ = lazy_exports(__name__, {"create_app": "api.factory"})
