"""gunicorn running the service: the production WSGI server behind ``triage serve``.

Each worker builds its own app with `api.create_app` after the fork (no preloading), so models
are loaded and warmed once per worker and no database connection crosses a fork.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Mapping
from typing import Any

from gunicorn.app.base import BaseApplication

from triage.errors import InputError

__all__ = ["Server", "check_port_free", "gunicorn_options"]


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
        from api import create_app

        return create_app(self.app_config)
