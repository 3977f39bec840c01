"""The models one worker serves: loaded once, warmed, then handed to the views.

`ModelSet` keeps one served object per model name (for "cases", a `CaseRouter` built from the
registry's champion). Each name has a loader; `load()` runs them all and records, per name,
either the version now served or the reason it could not be loaded, which `/readyz` reports.
A new kind of model (the risk model of the orders resource, for instance) is served by adding a
loader with `add_loader`; reloading after a promotion can reuse `load_one`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.errors import RETRY_AFTER_SECONDS, ApiError
from triage.cases.router import CASE_MODEL_NAME, CaseRouter
from triage.config import Settings
from triage.errors import TriageError
from triage.registry import Registry
from triage.taxonomy import Taxonomy

__all__ = ["ModelSet", "Served", "case_router_loader"]

log = logging.getLogger("triage.api")

#: loader(registry, taxonomy) -> a warmed object with `name` and `version` attributes
Loader = Callable[[Registry, Taxonomy], Any]


def case_router_loader(registry: Registry, taxonomy: Taxonomy) -> CaseRouter:
    """The champion case model with the taxonomy, warmed (jieba's dictionary loaded)."""
    return CaseRouter.from_registry(registry, taxonomy, name=CASE_MODEL_NAME).warm()


@dataclass(frozen=True)
class Served:
    """What one name serves now: the object, or why there is none."""

    name: str
    model: Any = None
    version: str | None = None
    error: str | None = None
    loaded_at: float | None = None


class ModelSet:
    """Models of one worker, by name. Thread-safe swaps; reads never block."""

    def __init__(self, settings: Settings, taxonomy: Taxonomy):
        self.registry = Registry(settings.models_dir)
        self.taxonomy = taxonomy
        self._loaders: dict[str, Loader] = {CASE_MODEL_NAME: case_router_loader}
        self._served: dict[str, Served] = {
            name: Served(name, error="not loaded yet") for name in self._loaders
        }
        self._lock = threading.Lock()

    def add_loader(self, name: str, loader: Loader) -> None:
        """Serve model `name` too, built by `loader` at the next `load`."""
        with self._lock:
            self._loaders[name] = loader
            self._served.setdefault(name, Served(name, error="not loaded yet"))

    def load_one(self, name: str) -> Served:
        """(Re)load model `name`; on failure the previously served object stays."""
        loader = self._loaders[name]
        started = time.perf_counter()
        try:
            model = loader(self.registry, self.taxonomy)
        except TriageError as exc:
            log.error("model %s not loaded: %s", name, exc)
            with self._lock:
                previous = self._served.get(name)
                if previous is None or previous.model is None:
                    self._served[name] = Served(name, error=str(exc))
                return self._served[name]
        served = Served(name, model=model, version=str(model.version), loaded_at=time.time())
        with self._lock:
            self._served[name] = served
        log.info(
            "model %s@%s loaded in %.1f s", name, served.version, time.perf_counter() - started
        )
        return served

    def load(self) -> None:
        """Load and warm every model."""
        for name in list(self._loaders):
            self.load_one(name)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per name: the version served, or the error that keeps it from being served."""
        return {
            name: {"version": s.version} if s.model is not None else {"error": s.error}
            for name, s in sorted(self._served.items())
        }

    @property
    def ready(self) -> bool:
        return all(s.model is not None for s in self._served.values())

    def get(self, name: str) -> Any:
        """The served object of `name`, or 503 not_ready when it is not loaded."""
        served = self._served.get(name)
        if served is None or served.model is None:
            raise ApiError(
                503,
                "not_ready",
                f"model {name!r} is not loaded: {served.error if served else 'unknown model'}",
                {"model": name},
                headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        return served.model

    def case_router(self) -> CaseRouter:
        return self.get(CASE_MODEL_NAME)
