"""Settings of case-triage: defaults, then ``TRIAGE_*`` environment variables, then overrides.

    >>> settings = Settings.from_env({"models_dir": "/srv/triage/models"})
    >>> settings.models_dir
    PosixPath('/srv/triage/models')

Nothing here runs at import time; call `Settings.from_env()` where settings are needed.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from triage.errors import ConfigError

__all__ = ["Settings", "project_root"]


def project_root() -> Path:
    """The folder that holds triage/, data/ and models/ in a source checkout."""
    return Path(__file__).resolve().parent.parent


def _bool(value: str) -> bool:
    low = value.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off", ""):
        return False
    raise ValueError(f"not a boolean: {value!r}")


@dataclass(frozen=True)
class Settings:
    """Where things live and how the service behaves. Every field has a ``TRIAGE_<NAME>`` variable."""

    data_dir: Path = field(default_factory=lambda: project_root() / "var")
    models_dir: Path = field(default_factory=lambda: project_root() / "models")
    taxonomy_path: Path = field(default_factory=lambda: project_root() / "data" / "taxonomy.yaml")
    corpus_dir: Path = field(default_factory=lambda: project_root() / "data" / "corpus")
    #: hand-written texts whose category depends on the order (the case model's order-aware
    #: part learns from them; triage/orders/linked.py)
    order_cases_dir: Path = field(default_factory=lambda: project_root() / "data" / "order_cases")
    cache_dir: Path | None = None
    database_url: str | None = None
    target_precision: float = 0.9
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    batch_limit: int = 1000
    max_text_bytes: int = 64 * 1024
    max_body_bytes: int = 2 * 1024 * 1024
    rate_limit_per_minute: int = 600
    require_api_keys: bool = True
    log_without_db: bool = False
    #: how often each service worker checks the registry for a new champion (0: never)
    model_reload_seconds: float = 2.0
    #: days after a dismissed suggestion before the same order may be suggested again
    suggestion_cooldown_days: float = 3.0
    #: keep the stored orders' history in each worker's memory between requests (off: every
    #: risk score and ingest rebuilds it from the database, the same features but slower)
    order_history_cache: bool = True
    #: use the case model's sentence encoder where it has one (off: its TF-IDF head alone,
    #: faster and less accurate on unfamiliar wording; see triage/cases/model.py)
    case_encoder: bool = True
    #: minutes after which an unused operator-console session is over (sign in again)
    console_idle_minutes: float = 30.0
    #: mark the console's cookies Secure even when the request reached the service over plain
    #: HTTP (behind a proxy that ends TLS); over TLS they always are
    console_secure_cookies: bool = False

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or an SQLite file in `data_dir`."""
        return self.database_url or f"sqlite:///{self.data_dir / 'triage.db'}"

    @classmethod
    def from_env(
        cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> Settings:
        """Defaults, then ``TRIAGE_*`` variables of `environ` (os.environ), then `overrides`."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        fields = {f.name: f for f in dataclasses.fields(cls)}
        for name in fields:
            raw = environ.get(f"TRIAGE_{name.upper()}")
            if raw is not None:
                values[name] = raw
        unknown = set(overrides or {}) - set(fields)
        if unknown:
            raise ConfigError(f"unknown settings: {', '.join(sorted(unknown))}")
        values.update(overrides or {})
        return cls(**{name: cls._coerce(name, value) for name, value in values.items()})

    @classmethod
    def _coerce(cls, name: str, value: Any) -> Any:
        kind = str(cls.__dataclass_fields__[name].type)
        try:
            if value is None:
                return None
            if "Path" in kind:
                return Path(value).expanduser()
            if kind == "bool":
                return value if isinstance(value, bool) else _bool(str(value))
            if kind == "int":
                return int(value)
            if kind == "float":
                return float(value)
            return str(value)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"setting {name} (TRIAGE_{name.upper()}): {exc}") from None
