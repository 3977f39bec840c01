"""Per-worker state of the service: settings, database, taxonomy, served models and the order
service.

Built once by the application factory (`init_app`) and reached from views with `runtime()`.
Nothing here runs at import time.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from dataclasses import dataclass, field

from flask import Flask, current_app

from api.serving import ModelSet, risk_scorer_loader
from triage.config import Settings
from triage.errors import StoreError
from triage.orders.risk.scoring import RISK_MODEL_NAME, RiskScorer
from triage.orders.service import OrderService
from triage.registry import Registry
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
    _orders: OrderService | None = field(default=None, init=False, repr=False)
    _orders_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False)

    def order_service(self) -> OrderService:
        """This worker's order service on its database, made once, with its history cache
        (the stored orders' history in memory) unless ``order_history_cache`` turns it off."""
        if self._orders is None:
            with self._orders_lock:
                if self._orders is None:
                    self._orders = OrderService(
                        self.store,
                        cooldown=dt.timedelta(days=self.settings.suggestion_cooldown_days),
                        history_cache=self.settings.order_history_cache,
                    )
        return self._orders

    def serve_risk_model(self) -> None:
        """Serve the registry's champion risk model too (optional: the service is ready without
        it), and load the stored orders' history with it, so that the first requests find it
        in memory."""

        def load(registry: Registry, taxonomy: Taxonomy) -> RiskScorer:
            scorer = risk_scorer_loader(registry, taxonomy)
            try:
                self.order_service().warm()
            except StoreError as exc:  # the first request that scores loads it instead
                log.warning("order history not loaded yet: %s", exc)
            return scorer

        self.models.add_loader(RISK_MODEL_NAME, load, required=False)


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
