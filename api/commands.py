"""``triage serve``, ``triage keys create|revoke|list`` and ``triage db upgrade|current``."""

from __future__ import annotations

import json

import click

from triage.console import echo_json, handle_errors, settings_from_context
from triage.errors import InputError
from triage.keys import ROLES

__all__ = ["register"]

EXAMPLE_TEXT = "买家开了A-to-Z说没收到，但是tracking显示delivered了"


def _store():
    from triage.store import Store

    store = Store.from_settings(settings_from_context())
    store.migrate()
    return store


def _address(host: str) -> str:
    """The address to give a local client for a server listening on `host`."""
    if host in ("0.0.0.0", "::", ""):
        host = "127.0.0.1"
    return f"[{host}]" if ":" in host else host


def console_address(host: str, port: int) -> str:
    """The operator console's sign-in page (the same API keys sign in there)."""
    return f"http://{_address(host)}:{port}/console"


def curl_example(host: str, port: int, token: str) -> str:
    """A shell command that categorizes one case with `token`, ready to paste."""
    address = _address(host)
    body = json.dumps({"text": EXAMPLE_TEXT}, ensure_ascii=False)
    return (
        f"curl -s http://{address}:{port}/v1/cases/categorize \\\n"
        f"  -H 'Authorization: Bearer {token}' \\\n"
        f"  -H 'Content-Type: application/json' \\\n"
        f"  -d '{body}'"
    )


@click.command()
@click.option(
    "--host", default=None, help="Address to listen on (default TRIAGE_HOST or 127.0.0.1)."
)
@click.option("--port", type=int, default=None, help="Port (default TRIAGE_PORT or 8000).")
@click.option(
    "--workers", type=int, default=None, help="gunicorn workers (default TRIAGE_WORKERS or 2)."
)
@click.option(
    "--threads",
    type=int,
    default=1,
    show_default=True,
    help="Threads per worker (more than 1 uses gunicorn's gthread workers).",
)
@click.option("--access-log/--no-access-log", default=True, show_default=True)
@click.option(
    "--create-admin-key",
    is_flag=True,
    help="When no admin key exists, create one and print it with a curl example.",
)
@handle_errors
def serve(host, port, workers, threads, access_log, create_admin_key):
    """Serve the HTTP API with gunicorn (migrates the database first)."""
    from api.server import Server, check_port_free, gunicorn_options
    from triage.config import Settings

    ctx = click.get_current_context()
    overrides = {k: v for k, v in ctx.find_root().obj.get("overrides", {}).items() if v is not None}
    overrides.update(
        {k: v for k, v in {"host": host, "port": port, "workers": workers}.items() if v is not None}
    )
    settings = Settings.from_env(overrides)
    if settings.workers < 1 or threads < 1:
        raise InputError("--workers and --threads must be at least 1")
    if not 0 < settings.port < 65536:
        raise InputError(f"--port must be between 1 and 65535, not {settings.port}")
    from triage.store import Store

    store = Store.from_settings(settings)
    revision = store.migrate()
    click.echo(f"database {store.url.render_as_string()} at schema revision {revision}")
    if create_admin_key:
        if store.has_active_key("admin"):
            click.echo(
                "an admin API key already exists (its token was shown when it was made); "
                "make another with: triage keys create --role admin"
            )
        else:
            record, token = store.create_key("admin", "local admin (first start)")
            click.echo(
                f"\ncreated the local admin API key {record.id}; it is shown only now:\n\n"
                f"    {token}\n\ntry it once the server is up:\n\n"
                f"{curl_example(settings.host, settings.port, token)}\n\n"
                f"or sign in to the operator console with it: "
                f"{console_address(settings.host, settings.port)}\n"
            )
    store.dispose()
    check_port_free(settings.host, settings.port)
    click.echo(
        f"serving on http://{settings.host}:{settings.port} with {settings.workers} gunicorn "
        f"worker(s); docs at /docs, readiness at /readyz, operator console at "
        f"{console_address(settings.host, settings.port)}"
    )
    options = gunicorn_options(settings.host, settings.port, settings.workers, threads, access_log)
    Server(overrides, options).run()


@click.group()
def keys() -> None:
    """Create, list and revoke API keys."""


@keys.command("create")
@click.option("--role", type=click.Choice(ROLES), required=True)
@click.option("--name", default="", help="A label for the key (who or what uses it).")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def keys_create(role, name, as_json):
    """Create a key of ROLE and print its token (shown only this once)."""
    record, token = _store().create_key(role, name)
    if as_json:
        echo_json({**record.public(), "token": token})
        return
    click.echo(f"created {role} key {record.id} ({record.name}); its token, shown only now:")
    click.echo(token)


@keys.command("revoke")
@click.argument("key_id")
@handle_errors
def keys_revoke(key_id):
    """Revoke the key KEY_ID (the 12 hex digits after ctk_); it stops working at once."""
    if not _store().revoke_key(key_id):
        raise InputError(f"no active key {key_id!r}; see `triage keys list`")
    click.echo(f"revoked key {key_id}")


@keys.command("list")
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def keys_list(as_json):
    """Keys with their role and state (never the tokens)."""
    records = _store().list_keys()
    if as_json:
        echo_json([r.public() for r in records])
        return
    if not records:
        click.echo("no API keys; create one with: triage keys create --role predict")
    for r in records:
        state = f"revoked {r.revoked_at:%Y-%m-%d %H:%M}" if r.revoked_at else "active"
        click.echo(f"{r.id}  {r.role:8s} {state:24s} {r.created_at:%Y-%m-%d %H:%M}  {r.name}")


@click.group()
def db() -> None:
    """The service database: schema migrations."""


@db.command("upgrade")
@handle_errors
def db_upgrade():
    """Create or upgrade the schema to the newest revision."""
    store = _store()
    click.echo(f"{store.url.render_as_string()}: schema at revision {store.current_revision()}")


@db.command("current")
@handle_errors
def db_current():
    """The schema revision of the database and the newest one this code has."""
    from triage.store import Store

    store = Store.from_settings(settings_from_context())
    click.echo(f"current {store.current_revision()}  newest {store.head_revision()}")


def register(cli) -> None:
    """Attach these commands to the root group."""
    cli.add_command(serve)
    cli.add_command(keys)
    cli.add_command(db)
