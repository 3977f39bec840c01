"""gunicorn running the service: the production WSGI server behind ``triage serve``.

Each worker builds its own app with `api.create_app` after the fork (no preloading), so models
are loaded and warmed once per worker and no database connection crosses a fork.
"""

from __future__ import annotations

import logging
import os
import re
import socket
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

from gunicorn.app.base import BaseApplication
from gunicorn.glogging import Logger

from triage.errors import InputError
from triage.text.entities import redact

__all__ = ["RedactingLogger", "Server", "check_port_free", "gunicorn_options", "scrub"]

# an API token (triage.keys): its key id may be logged, its secret never
_TOKEN = re.compile(r"(ctk_[0-9a-f]{12}_)[A-Za-z0-9_-]+")
# request headers gunicorn could put in a log line that carry credentials
_CREDENTIAL_ATOMS = ("{authorization}i", "{x-api-key}i", "{cookie}i", "{proxy-authorization}i")
# access log atoms made by gunicorn, not written by the client: address, time, status, sizes,
# durations, pid
_PLAIN_ATOMS = frozenset({"h", "l", "t", "s", "b", "B", "T", "D", "M", "L", "p"})
_FORMAT_ATOM = re.compile(r"%\(([^)]+)\)s")


def scrub(text: str) -> str:
    """`text` fit for a log: percent-decoded, emails and phone numbers redacted, token secrets
    replaced by ``[SECRET]``."""
    return redact(_TOKEN.sub(r"\1[SECRET]", unquote(text)))


class RedactingLogger(Logger):
    """gunicorn's logger with nothing personal or secret in the access log: every atom of the
    access log format that a client writes (request line, path, query, referrer, user agent,
    request headers...) is scrubbed, and the Basic-auth user (which a client could fill with a
    token) and credential headers are never written. Atoms the format does not use are left
    alone: scrubbing them would cost every request for nothing."""

    def atoms(self, resp, req, environ, request_time) -> dict[str, Any]:
        atoms = super().atoms(resp, req, environ, request_time)
        atoms["u"] = "-"
        for name in _CREDENTIAL_ATOMS:
            if name in atoms:
                atoms[name] = "-"
        for name in set(_FORMAT_ATOM.findall(self.cfg.access_log_format)) - _PLAIN_ATOMS:
            value = atoms.get(name)
            if isinstance(value, str):
                atoms[name] = scrub(value)
        return atoms


class _ScrubFilter(logging.Filter):
    """Scrubs every application log record (a database error could quote a value)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = scrub(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:  # the traceback's messages too
            record.exc_text = scrub(logging.Formatter().formatException(record.exc_info))
        return True


def gunicorn_options(
    host: str, port: int, workers: int, threads: int = 1, access_log: bool = True
) -> dict[str, Any]:
    """gunicorn settings for `triage serve`."""
    options: dict[str, Any] = {
        "bind": f"[{host}]:{port}" if ":" in host else f"{host}:{port}",
        "workers": workers,
        "worker_class": "gthread" if threads > 1 else "sync",
        "threads": threads,
        "timeout": 60,
        "graceful_timeout": 20,
        "keepalive": 5,
        "proc_name": "case-triage",
        "errorlog": "-",
        "loglevel": "info",
        "accesslog": "-" if access_log else None,
        "logger_class": RedactingLogger,
        # gunicorn's control socket is one path per user; several servers would collide
        "control_socket_disable": True,
    }
    if os.path.isdir("/dev/shm"):
        options["worker_tmp_dir"] = "/dev/shm"  # heartbeat files off the disk
    return options


def check_port_free(host: str, port: int) -> None:
    """Raise `InputError` when `host:port` cannot be bound (in use, or not an address here)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise InputError(
                f"cannot listen on {host}:{port} ({exc.strerror}); choose another with --port "
                "or TRIAGE_PORT"
            ) from None


class Server(BaseApplication):
    """A gunicorn application whose workers each call ``create_app(app_config)``."""

    def __init__(self, app_config: Mapping[str, Any], options: Mapping[str, Any]):
        self.app_config = dict(app_config)
        self.options = dict(options)
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Any:
        logging.basicConfig(
            level=logging.INFO,
            format="[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s",
        )
        logging.getLogger("alembic").setLevel(logging.WARNING)
        for handler in logging.getLogger().handlers:
            if not any(isinstance(f, _ScrubFilter) for f in handler.filters):
                handler.addFilter(_ScrubFilter())
        from api import create_app

        return create_app(self.app_config)
