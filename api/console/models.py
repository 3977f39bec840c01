"""The models page (``/console/models``, analyst reads, admin acts): every registered model
with its versions, status and metrics; a version's per-class table, confusion matrix and
reliability diagram (the PNGs of its evaluation report, or a confusion matrix drawn by
matplotlib from its metrics); promote and roll back (admin) after a confirmation step, through
the registry as ``POST /v1/models/{name}/promote|rollback`` do."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path
from typing import Any

from flask import redirect, request, send_file, url_for
from flask.typing import ResponseReturnValue

from api.console.access import current_session, needs_role
from api.console.blueprint import blueprint, page
from api.errors import ApiError
from api.runtime import runtime
from triage.errors import IntegrityError, ModelError, ModelNotFoundError
from triage.evaluation import plot_confusion_matrix

FIGURES = ("confusion_matrix", "reliability")


def _metrics(meta: dict[str, Any]) -> dict[str, Any]:
    """A version's held-out metrics when it has them, else its metrics."""
    metrics = meta.get("metrics") or {}
    held_out = metrics.get("held_out")
    return held_out if isinstance(held_out, dict) else metrics


def _headline(metrics: dict[str, Any]) -> dict[str, float]:
    return {
        k: v for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)
    }


def _known(name: str) -> list[dict[str, Any]]:
    registry = runtime().models.registry
    if name not in registry.names():
        raise ApiError(404, "model_not_found", f"no model {name[:64]!r} in the registry")
    return registry.versions(name)


@blueprint.get("/models")
@needs_role("analyst")
def models_page() -> ResponseReturnValue:
    """Every model and its versions; one version's details."""
    registry = runtime().models.registry
    try:
        names = registry.names()
        models = [
            {
                "name": n,
                # newest first
                "versions": sorted(
                    registry.versions(n), key=lambda m: m.get("created_at") or "", reverse=True
                ),
                # a rollback needs an earlier champion
                "can_roll_back": len({e["version"] for e in registry.state(n)["history"]}) > 1,
            }
            for n in names
        ]
    except OSError as exc:
        raise ApiError(
            503, "registry_unavailable", f"the registry cannot be read ({exc})"
        ) from None
    for model in models:
        for meta in model["versions"]:
            meta["headline"] = _headline(_metrics(meta))
    chosen_name = request.args.get("model") or (names[0] if names else None)
    chosen = next((m for m in models if m["name"] == chosen_name), None)
    detail = None
    if chosen is not None and chosen["versions"]:
        wanted = request.args.get("version")
        detail = next(
            (v for v in chosen["versions"] if v["version"] == wanted),
            next((v for v in chosen["versions"] if v["status"] == "champion"), None)
            or chosen["versions"][0],
        )
    # the newest version a retraining made (its metrics carry the gate's verdict)
    retrained = next(
        (v for v in (chosen or {}).get("versions", []) if (v.get("metrics") or {}).get("gate")),
        None,
    )
    figures: dict[str, bool] = {}
    report = None
    if detail is not None:
        folder = registry.path(chosen_name, detail["version"])  # type: ignore[arg-type]
        metrics = _metrics(detail)
        figures = {
            "confusion_matrix": (folder / "confusion_matrix.png").is_file()
            or "confusion_matrix" in metrics,
            "reliability": (folder / "reliability.png").is_file(),
        }
        report_file = folder / "report.md"
        report = report_file.read_text(encoding="utf-8")[:20_000] if report_file.is_file() else None
    return page(
        "models.html",
        models=models,
        chosen=chosen,
        detail=detail,
        detail_metrics=_metrics(detail) if detail else {},
        figures=figures,
        report=report,
        retrained=retrained,
        done=request.args.get("done"),
    )


@blueprint.get("/models/<name>/<version>/<figure>.png")
@needs_role("analyst")
def model_figure(name: str, version: str, figure: str) -> ResponseReturnValue:
    """A version's confusion matrix or reliability diagram, as PNG."""
    if figure not in FIGURES:
        raise ApiError(404, "not_found", "no such figure")
    versions = _known(name)
    meta = next((v for v in versions if v["version"] == version), None)
    if meta is None:
        raise ApiError(404, "version_not_found", f"model {name!r} has no version {version[:64]!r}")
    folder = runtime().models.registry.path(name, version)
    saved = folder / f"{figure}.png"
    if saved.is_file():
        return send_file(saved, mimetype="image/png", max_age=3600)
    metrics = _metrics(meta)
    if figure == "confusion_matrix" and "confusion_matrix" in metrics:
        with tempfile.TemporaryDirectory(prefix="triage-console-") as tmp:
            path = plot_confusion_matrix(metrics, Path(tmp) / "confusion_matrix.png")
            data = path.read_bytes()
        return send_file(io.BytesIO(data), mimetype="image/png")
    raise ApiError(404, "not_found", f"{name}@{version} has no {figure.replace('_', ' ')}")


def _action(name: str) -> tuple[str, str | None]:
    action = request.args.get("action") or request.form.get("action") or ""
    if action not in ("promote", "rollback"):
        raise ApiError(422, "invalid_value", "action: promote or rollback")
    version = request.values.get("version") or None
    if action == "promote" and not version:
        raise ApiError(422, "invalid_value", "version: which version to promote")
    return action, version


@blueprint.get("/models/<name>/confirm")
@needs_role("admin")
def model_confirm(name: str) -> ResponseReturnValue:
    """The confirmation step of a promotion or rollback."""
    _known(name)
    action, version = _action(name)
    champion = runtime().models.registry.champion(name)
    return page("model_confirm.html", name=name, action=action, version=version, champion=champion)


@blueprint.post("/models/<name>/change")
@needs_role("admin")
def model_change(name: str) -> ResponseReturnValue:
    """Promote a version, or roll back to the previous champion (confirmed)."""
    _known(name)
    action, version = _action(name)
    state = runtime()
    registry = state.models.registry
    who = f"in the console by key {current_session().key_id}"
    try:
        if action == "promote":
            registry.promote(name, version, reason=f"promoted {who}")  # type: ignore[arg-type]
        else:
            registry.rollback(name, note=who)
    except ModelNotFoundError as exc:
        raise ApiError(404, "version_not_found", str(exc)[:300]) from None
    except IntegrityError as exc:
        raise ApiError(409, "model_integrity", f"not changed: {exc}"[:300]) from None
    except ModelError as exc:  # no earlier champion to roll back to
        raise ApiError(409, "no_earlier_champion", str(exc)[:300]) from None
    except OSError as exc:
        raise ApiError(
            503, "registry_unavailable", f"the registry cannot be written ({exc})"
        ) from None
    state.models.wake()
    champion = registry.champion(name)
    return redirect(url_for("console.models_page", model=name, version=champion, done=action))
