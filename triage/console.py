"""Plumbing shared by the ``triage`` commands: settings, error handling, model references."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from triage.config import Settings
from triage.errors import TriageError

__all__ = ["EXIT_INPUT", "echo_json", "handle_errors", "resolve_model", "settings_from_context"]

EXIT_INPUT = 2


def settings_from_context(ctx: click.Context | None = None) -> Settings:
    """The settings of this invocation (environment plus --models-dir)."""
    ctx = ctx or click.get_current_context()
    root = ctx.find_root()
    if root.obj is None:
        root.obj = {}
    if "settings" not in root.obj:
        overrides = {k: v for k, v in root.obj.get("overrides", {}).items() if v is not None}
        root.obj["settings"] = Settings.from_env(overrides)
    return root.obj["settings"]


def handle_errors(func: Callable) -> Callable:
    """Turn a `TriageError` into ``error: message`` on stderr and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except TriageError as exc:
            message = " ".join(str(exc).split()) or type(exc).__name__
            click.echo(f"error: {message}", err=True)
            sys.exit(EXIT_INPUT)

    return wrapper


def resolve_model(ref: str, settings: Settings):
    """Load a model from a directory path, or from the registry as NAME or NAME@VERSION."""
    from triage.registry import Registry, load_model_dir

    path = Path(ref)
    if path.is_dir() or "/" in ref or ref.startswith("."):
        if not path.is_dir():
            from triage.errors import ModelNotFoundError

            raise ModelNotFoundError(f"{ref}: no such model directory")
        return load_model_dir(path)
    name, _, version = ref.partition("@")
    return Registry(settings.models_dir).load(name, version or None)


def echo_json(document: Any) -> None:
    click.echo(json.dumps(document, ensure_ascii=False, indent=2, default=str))
