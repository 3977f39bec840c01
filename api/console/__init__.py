"""The operator console: server-rendered pages under ``/console`` for the people who route
cases (triage box, review queue, suggestions, orders at risk, models, monitoring).

One blueprint (`blueprint`), registered by the application factory. Sign-in, sessions, CSRF
and roles: api.console.access; the pages' common parts: api.console.blueprint; one module per
page. The console calls the same library flows as the JSON API (categorize and log, feedback,
the suggestion lifecycle, the registry), never a copy of them.
"""

from __future__ import annotations

from api.console import intake, models, monitoring, orders, review, suggestions  # noqa: F401
from api.console.blueprint import blueprint

__all__ = ["blueprint"]
