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


class _UsageLine(click.ClickException):
    """A usage error shown like every other bad input: one ``error:`` line, exit status 2."""

    exit_code = 2

    def show(self, file=None) -> None:
        click.echo(f"error: {self.format_message()}", err=True)


def _one_line(error: click.UsageError) -> click.ClickException:
    if isinstance(error, click.exceptions.NoArgsIsHelpError):
        return error  # a group called without a command: its help is the answer
    hint = f" (see '{error.ctx.command_path} --help')" if error.ctx is not None else ""
    return _UsageLine(" ".join(error.format_message().split()) + hint)


class _Root(click.Group):
    """The root group: usage errors (an unknown option, a value out of its range, a missing
    argument) and arguments that are not valid UTF-8 become one ``error:`` line, status 2."""

    def make_context(self, info_name, args, parent=None, **extra):  # type: ignore[override]
        for position, arg in enumerate(args, 1):
            try:
                arg.encode("utf-8")
            except UnicodeEncodeError:  # undecodable bytes from the shell (surrogateescape)
                raise _UsageLine(
                    f"argument {position} is not valid UTF-8; give texts, names and paths in UTF-8"
                ) from None
        try:
            return super().make_context(info_name, args, parent, **extra)
        except click.UsageError as error:
            raise _one_line(error) from None

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except click.UsageError as error:
            raise _one_line(error) from None


@click.group(
    cls=_Root,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
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


COMMANDS_ENTRY_POINT = "triage.commands"


def _register_commands() -> None:
    # Each domain keeps its commands beside its code, and a command module imports its heavy
    # libraries inside the commands, so that `triage --help` answers at once. The service's
    # commands (serve, keys, db) live in api/ and come in through the entry point group
    # "triage.commands" (pyproject.toml): the library never imports the service.
    from importlib.metadata import entry_points

    from triage.cases.commands import register as register_cases
    from triage.commands import register as register_general
    from triage.jobs.commands import register as register_jobs
    from triage.orders.commands import register as register_orders

    register_cases(cli, train, evaluate, predict)
    register_general(cli)
    register_orders(cli, train, evaluate)
    register_jobs(cli)
    for entry_point in entry_points(group=COMMANDS_ENTRY_POINT):
        entry_point.load()(cli)


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
