"""The ``triage`` command.

Every command reports bad input as one line on stderr and exits with status 2; no traceback
reaches the user for an error case-triage raises on purpose.

    triage train cases|risk ...      triage evaluate cases|risk ...     triage predict cases ...
    triage models list|promote|rollback                                   triage bootstrap
    triage corpus check
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

__all__ = ["cli", "main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Model registry folder (default: TRIAGE_MODELS_DIR or ./models).",
)
@click.version_option(package_name="case-triage")
@click.pass_context
def cli(ctx: click.Context, models_dir: Path | None) -> None:
    """case-triage: route marketplace support cases and flag orders that will be late."""
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {"models_dir": models_dir}


@cli.group()
def train() -> None:
    """Train a model."""


@cli.group()
def evaluate() -> None:
    """Evaluate a model on labelled data."""


@cli.group()
def predict() -> None:
    """Predict with a model."""


def _register_commands() -> None:
    # Each domain keeps its commands beside its code; the service's commands (serve, keys, db)
    # live in api/ so that the library never imports Flask.
    from api.commands import register as register_service
    from triage.cases.commands import register as register_cases
    from triage.commands import register as register_general
    from triage.jobs.commands import register as register_jobs
    from triage.orders.commands import register as register_orders

    register_cases(cli, train, evaluate, predict)
    register_general(cli)
    register_orders(cli, train, evaluate)
    register_jobs(cli)
    register_service(cli)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``triage`` script."""
    try:
        cli.main(args=argv, prog_name="triage", standalone_mode=True)
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
