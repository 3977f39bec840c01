"""The model registry over HTTP: ``GET /v1/models`` (every model with its versions and their
status, and what this worker serves), and for admins ``POST /v1/models/{name}/promote`` and
``POST /v1/models/{name}/rollback``.

A promotion or rollback changes the registry's champion; every worker of every server sharing
the models folder then loads it within `Settings.model_reload_seconds` (api.serving), without
a restart and without failing a request in flight.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Blueprint
from flask.typing import ResponseReturnValue

from api.auth import current_caller, requires
from api.errors import RETRY_AFTER_SECONDS, ApiError
from api.runtime import runtime
from api.validation import parse_json_body
from triage.errors import IntegrityError, ModelError, ModelNotFoundError
from triage.registry import Registry

__all__ = ["blueprint"]

blueprint = Blueprint("models", __name__)


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    """The scalar figures of a version: its held-out metrics when it has them."""
    source = metrics.get("held_out", metrics) if isinstance(metrics, dict) else {}
    return {
        k: v for k, v in source.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _version_entry(meta: dict[str, Any], promoted: dict[str, str]) -> dict[str, Any]:
    entry = {
        "version": meta["version"],
        "status": meta["status"],
        "kind": meta.get("kind"),
        "created_at": meta.get("created_at"),
        "last_promoted_at": promoted.get(meta["version"]),
        "headline": _headline(meta.get("metrics", {})),
    }
    if meta.get("rejected_reason"):
        entry["rejected_reason"] = meta["rejected_reason"]
    return entry


def _summary(registry: Registry, name: str, served: dict[str, Any]) -> dict[str, Any]:
    versions = registry.versions(name)
    promoted = {e["version"]: e["at"] for e in registry.state(name)["history"]}
    champion = next((m for m in versions if m["status"] == "champion"), None)
    serving = served.get(name, {})
    entry: dict[str, Any] = {
        "name": name,
        "version": None,
        "serving_version": serving.get("version"),
        "versions": len(versions),
        "registered": [_version_entry(m, promoted) for m in versions],
    }
    if serving.get("reload_error"):
        entry["reload_error"] = serving["reload_error"]
    if champion is not None:
        entry.update(
            version=champion["version"],
            kind=champion.get("kind"),
            created_at=champion.get("created_at"),
            classes=champion.get("classes", []),
            metrics=champion.get("metrics", {}),
        )
    return entry


def _registry_unavailable(exc: OSError) -> ApiError:
    return ApiError(
        503,
        "registry_unavailable",
        f"the model registry cannot be read or written ({exc.strerror or exc})",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


@blueprint.get("/v1/models")
@requires("predict")
def list_models() -> ResponseReturnValue:
    """Every registered model: its versions with their status, the champion's metrics, and the
    version this worker serves."""
    state = runtime()
    registry = state.models.registry
    served = state.models.status()
    try:
        names = sorted(set(registry.names()) | set(served))
        return {"models": [_summary(registry, name, served) for name in names]}
    except OSError as exc:
        raise _registry_unavailable(exc) from None


def _known(registry: Registry, name: str) -> None:
    if name not in registry.names():
        raise ApiError(
            404, "model_not_found", f"no model {name!r} in the registry"[:200], {"model": name}
        )


def _who() -> str:
    key_id = current_caller().key_id
    return f"over HTTP by key {key_id}" if key_id else "over HTTP"


def _change(registry: Registry, name: str, previous: str | None, action: str) -> dict[str, Any]:
    state = runtime()
    state.models.wake()  # this worker checks at once; the others within the interval
    last = registry.state(name)["history"][-1]
    return {
        "name": name,
        "action": action,
        "champion": last["version"],
        "previous": previous,
        "at": last.get("at") or dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "reload_seconds": state.settings.model_reload_seconds,
    }


@blueprint.post("/v1/models/<name>/promote")
@requires("admin")
def promote_model(name: str) -> ResponseReturnValue:
    """Make a registered version the champion; every worker serves it within seconds."""
    state = runtime()
    registry = state.models.registry
    body = parse_json_body("PromoteInput", state.settings.max_body_bytes)
    version = body["version"]
    try:
        _known(registry, name)
        previous = registry.champion(name)
        registry.promote(name, version, reason=f"promoted {_who()}")
        return _change(registry, name, previous, "promote")
    except ModelNotFoundError:
        raise ApiError(
            404,
            "version_not_found",
            f"model {name!r} has no version {version!r}"[:200],
            {"model": name, "field": "version"},
        ) from None
    except IntegrityError as exc:
        raise ApiError(
            409,
            "model_integrity",
            f"{name}@{version} cannot be served, so it is not promoted: {exc}",
            {"model": name, "version": version},
        ) from None
    except OSError as exc:
        raise _registry_unavailable(exc) from None


@blueprint.post("/v1/models/<name>/rollback")
@requires("admin")
def rollback_model(name: str) -> ResponseReturnValue:
    """Make the previous champion the champion again."""
    registry = runtime().models.registry
    try:
        _known(registry, name)
        previous = registry.champion(name)
        registry.rollback(name, note=_who())
        return _change(registry, name, previous, "rollback")
    except IntegrityError as exc:
        raise ApiError(
            409,
            "model_integrity",
            f"the previous champion of {name!r} cannot be served: {exc}",
            {"model": name},
        ) from None
    except ModelNotFoundError as exc:  # no champion at all
        raise ApiError(409, "no_champion", str(exc), {"model": name}) from None
    except ModelError as exc:  # no earlier champion
        raise ApiError(409, "no_earlier_champion", str(exc), {"model": name}) from None
    except OSError as exc:
        raise _registry_unavailable(exc) from None
