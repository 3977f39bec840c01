"""The models one worker serves: loaded once, warmed, then handed to the views, and reloaded
when the registry's champion changes.

`ModelSet` keeps one served object per model name (for "cases", a `CaseRouter` built from the
registry's champion). Each name has a loader; `load()` runs them all and records, per name,
either the version now served or the reason it could not be loaded, which `/readyz` reports.
A new kind of model (the risk model of the orders resource, for instance) is served by adding a
loader with `add_loader`: a loader named N serves the champion of the registry's model N. The
loaders live here: `case_router_loader` and `risk_scorer_loader`.

Hot reload: `watch(interval)` starts a daemon thread per worker that polls each name's
registry.json (one ``stat``, `Registry.stamp`) and, when a promotion or rollback changed the
champion, builds the new model in that thread and swaps it in with one reference assignment.
A view takes the served object once per request, so a request in flight finishes on the model
it started with and no request waits for a load. When the new champion cannot be loaded
(checksum mismatch, incompatible library versions...) the last good model stays in service, the
error is logged and `/readyz` reports it (``reload_error``); the load is retried when the
registry changes again or every `retry_seconds`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from api.errors import RETRY_AFTER_SECONDS, ApiError
from triage.cases.router import CASE_MODEL_NAME, CaseRouter
from triage.config import Settings
from triage.errors import TriageError
from triage.orders.data.schema import events_from_records, orders_from_records
from triage.orders.risk.scoring import RISK_MODEL_NAME, RiskScorer
from triage.registry import Registry
from triage.taxonomy import Taxonomy

__all__ = ["ModelSet", "Served", "case_router_loader", "risk_scorer_loader"]

log = logging.getLogger("triage.api")

#: loader(registry, taxonomy) -> a warmed object with `name` and `version` attributes
Loader = Callable[[Registry, Taxonomy], Any]

_UNSEEN = object()  # no stamp recorded yet (distinct from None: no registry.json)


def case_router_loader(
    registry: Registry, taxonomy: Taxonomy, *, encoder: bool = True
) -> CaseRouter:
    """The champion case model with the taxonomy, warmed (jieba's dictionary and the sentence
    encoder loaded); `encoder` False serves a model with an encoder by its TF-IDF head alone."""
    router = CaseRouter.from_registry(registry, taxonomy, name=CASE_MODEL_NAME)
    router.model.use_encoder(encoder)
    embedder = getattr(router.model, "embedder_", None)
    if embedder is not None and not router.model.encoder_active:
        why = "TRIAGE_CASE_ENCODER is off" if not encoder else "it cannot run on this machine"
        log.warning(
            "model %s@%s: sentence encoder %s not used (%s); serving its TF-IDF head alone",
            CASE_MODEL_NAME, router.version, embedder.model, why,
        )  # fmt: skip
    return router.warm()


def risk_scorer_loader(registry: Registry, taxonomy: Taxonomy) -> RiskScorer:
    """The registry's champion risk model, warmed by scoring one made-up order."""
    scorer = RiskScorer.from_registry(registry, RISK_MODEL_NAME)
    now = dt.datetime.now(dt.UTC)
    probe = {
        "order_id": "warm-up",
        "purchased_at": (now - dt.timedelta(days=1)).isoformat(),
        "promised_date": (now + dt.timedelta(days=3)).date().isoformat(),
    }
    scorer.score(orders_from_records([probe]), events_from_records([]), as_of=now)
    return scorer


@dataclass(frozen=True)
class Served:
    """What one name serves now: the object, or why there is none.

    `reload_error` is set while a newer champion (`champion`) failed to load and the last good
    model is still served.
    """

    name: str
    model: Any = None
    version: str | None = None
    error: str | None = None
    loaded_at: float | None = None
    reload_error: str | None = None
    champion: str | None = None


class ModelSet:
    """Models of one worker, by name. Thread-safe swaps; reads never block."""

    #: seconds before a failed load is tried again while the registry has not changed
    retry_seconds: float = 60.0

    def __init__(self, settings: Settings, taxonomy: Taxonomy):
        self.registry = Registry(settings.models_dir)
        self.taxonomy = taxonomy
        self._loaders: dict[str, Loader] = {
            CASE_MODEL_NAME: functools.partial(case_router_loader, encoder=settings.case_encoder)
        }
        self._served: dict[str, Served] = {
            name: Served(name, error="not loaded yet") for name in self._loaders
        }
        self._optional: set[str] = set()  # names whose absence leaves the set ready
        self._stamps: dict[str, Any] = {}  # registry stamp seen by the last load of each name
        self._failed_at: dict[str, float] = {}  # monotonic time of the last failed load
        self._lock = threading.Lock()  # guards the dictionaries above
        self._refreshing = threading.Lock()  # one refresh at a time
        self._watcher: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()

    def add_loader(self, name: str, loader: Loader, *, required: bool = True) -> None:
        """Serve model `name` too, built by `loader` at the next `load`. A model that is not
        `required` (the risk model) does not hold back readiness: without it, only the views
        that need it answer 503."""
        with self._lock:
            self._loaders[name] = loader
            self._served.setdefault(name, Served(name, error="not loaded yet"))
            if required:
                self._optional.discard(name)
            else:
                self._optional.add(name)

    # -- loading ----------------------------------------------------------------------
    def _stamp(self, name: str) -> Any:
        try:
            return self.registry.stamp(name)
        except (TriageError, OSError):
            return None

    def load_one(self, name: str) -> Served:
        """(Re)load model `name`; on failure the previously served object stays."""
        loader = self._loaders[name]
        stamp = self._stamp(name)  # before loading: a change during the load is seen next time
        started = time.perf_counter()
        try:
            model = loader(self.registry, self.taxonomy)
        except (TriageError, OSError) as exc:
            return self._failed(name, stamp, exc)
        served = Served(name, model=model, version=str(model.version), loaded_at=time.time())
        with self._lock:
            previous = self._served.get(name)
            self._served[name] = served
            self._stamps[name] = stamp
            self._failed_at.pop(name, None)
        log.info(
            "model %s@%s loaded in %.1f s%s",
            name,
            served.version,
            time.perf_counter() - started,
            f" (was {previous.version})"
            if previous is not None and previous.version not in (None, served.version)
            else "",
        )
        return served

    def _failed(self, name: str, stamp: Any, exc: Exception) -> Served:
        try:
            champion = self.registry.champion(name)
        except (TriageError, OSError):
            champion = None
        with self._lock:
            self._stamps[name] = stamp
            self._failed_at[name] = time.monotonic()
            previous = self._served.get(name)
            if previous is None or previous.model is None:
                self._served[name] = Served(name, error=str(exc))
                log.error("model %s not loaded: %s", name, exc)
            else:
                self._served[name] = dataclasses.replace(
                    previous, reload_error=str(exc), champion=champion
                )
                log.error(
                    "model %s: champion %s not loaded, still serving %s: %s",
                    name,
                    champion,
                    previous.version,
                    exc,
                )
            return self._served[name]

    def load(self) -> None:
        """Load and warm every model."""
        for name in list(self._loaders):
            self.load_one(name)

    # -- hot reload -------------------------------------------------------------------
    def _due(self, name: str) -> bool:
        """Whether `name` must be (re)loaded: its champion changed, or a failed load is due."""
        stamp = self._stamp(name)
        with self._lock:
            seen = self._stamps.get(name, _UNSEEN)
            failed_at = self._failed_at.get(name)
            served = self._served.get(name)
        if stamp == seen:
            return failed_at is not None and time.monotonic() - failed_at >= self.retry_seconds
        try:
            champion = self.registry.champion(name)
        except (TriageError, OSError):
            return True  # load_one records why it cannot load
        if served is not None and served.model is not None and champion == served.version:
            # e.g. a rejection was recorded, or a rollback to the version served
            with self._lock:
                self._stamps[name] = stamp
                self._failed_at.pop(name, None)
                self._served[name] = dataclasses.replace(served, reload_error=None, champion=None)
            return False
        return True

    def refresh(self) -> list[str]:
        """Reload every model whose champion changed since it was loaded (and retry failed
        loads every `retry_seconds`); returns the names (re)loaded. Requests keep being served
        by the current models meanwhile."""
        done = []
        with self._refreshing:
            for name in list(self._loaders):
                if self._due(name):
                    self.load_one(name)
                    done.append(name)
        return done

    def watch(self, interval: float) -> None:
        """Call `refresh` every `interval` seconds (and on `wake`) in a daemon thread."""
        if self._watcher is not None and self._watcher.is_alive():
            return
        self._stop.clear()
        self._watcher = threading.Thread(
            target=_watch,
            args=(weakref.ref(self), self._stop, self._wake, interval),
            name="triage-model-watcher",
            daemon=True,
        )
        self._watcher.start()

    def wake(self) -> None:
        """Ask the watcher to check the registry now (after a promotion made here)."""
        self._wake.set()

    def stop(self, timeout: float | None = 10.0) -> None:
        """Stop the watcher thread (it also stops by itself once this set is garbage)."""
        self._stop.set()
        self._wake.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
            self._watcher = None

    # -- serving ----------------------------------------------------------------------
    def status(self) -> dict[str, dict[str, Any]]:
        """Per name: the version served, or the error that keeps it from being served; with
        the champion that failed to load while an older version is still served."""
        out: dict[str, dict[str, Any]] = {}
        for name, s in sorted(self._served.items()):
            if s.model is None:
                out[name] = {"error": s.error}
            elif s.reload_error is not None:
                out[name] = {
                    "version": s.version,
                    "champion": s.champion,
                    "reload_error": s.reload_error,
                }
            else:
                out[name] = {"version": s.version}
        return out

    @property
    def ready(self) -> bool:
        """Whether every required model is loaded."""
        return all(s.model is not None for n, s in self._served.items() if n not in self._optional)

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


def _watch(
    ref: weakref.ReferenceType[ModelSet],
    stop: threading.Event,
    wake: threading.Event,
    interval: float,
) -> None:
    """The watcher thread: refresh until stopped or until its model set is garbage."""
    while not stop.is_set():
        wake.wait(interval)
        wake.clear()
        models = ref()
        if models is None or stop.is_set():
            return
        try:
            models.refresh()
        except Exception:  # noqa: BLE001 - an unexpected bug must not end hot reload for good
            log.exception("model watcher: refresh failed; trying again in %s s", interval)
        del models
