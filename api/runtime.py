"""Per-worker state of the service: settings, database, taxonomy and served models.

Built once by the application factory (`init_app`) and reached from views with `runtime()`.
Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import Flask, current_app

from api.serving import ModelSet
from triage.config import Settings
from triage.errors import StoreError
from triage.store import Store
from triage.taxonomy import Taxonomy, load_taxonomy

__all__ = ["Runtime", "init_app", "runtime"]

log = logging.getLogger("triage.api")

EXTENSION = "triage"


@dataclass
class Runtime:
    """Everything a view needs besides the request."""

    settings: Settings
    store: Store
    taxonomy: Taxonomy
    models: ModelSet


def init_app(app: Flask, settings: Settings) -> Runtime:
    """Open (and migrate) the database, read the taxonomy, prepare the model set (the factory
    loads and warms the models once every resource has added its loaders)."""
    store = Store.from_settings(settings)
    try:
        store.migrate()
    except StoreError as exc:  # /readyz reports it; requests needing the database get 503
        log.error("%s", exc)
    taxonomy = load_taxonomy(settings.taxonomy_path)
    models = ModelSet(settings, taxonomy)
    state = Runtime(settings=settings, store=store, taxonomy=taxonomy, models=models)
    app.extensions[EXTENSION] = state
    return state


def runtime() -> Runtime:
    """The `Runtime` of the current app."""
    return current_app.extensions[EXTENSION]
