"""``triage retrain cases`` and ``triage monitor cases``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
import pandas as pd

from triage.console import echo_json, handle_errors, settings_from_context
from triage.tables import read_table, require_columns

__all__ = ["register"]


def _labelled(path: Path | None, text_col: str, label_col: str) -> pd.DataFrame | None:
    if path is None:
        return None
    frame = read_table(path, text_columns=[text_col])
    require_columns(frame, [text_col, label_col], str(path))
    return frame.rename(columns={text_col: "text", label_col: "category"})[
        ["text", "category"]
    ].astype(str)


@click.group()
def retrain() -> None:
    """Retrain a model from new data and analysts' corrections, behind a promotion gate."""


@retrain.command("cases")
@click.option(
    "--history",
    "history_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Imported historical cases (CSV/JSONL/Parquet) to add to the training set.",
)
@click.option(
    "--eval",
    "eval_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Extra frozen evaluation rows, added to the corpus's held-out split.",
)
@click.option("--text-col", default="text", show_default=True)
@click.option("--label-col", default="category", show_default=True)
@click.option(
    "--dry-run", is_flag=True, help="Train and evaluate, show the decision, register nothing."
)
@click.option("--macro-f1-tolerance", default=0.005, show_default=True, type=float)
@click.option("--recall-tolerance", default=0.02, show_default=True, type=float)
@click.option("--language-tolerance", default=0.02, show_default=True, type=float)
@click.option("--ece-tolerance", default=0.02, show_default=True, type=float)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@handle_errors
def retrain_cases_command(
    history_path,
    eval_path,
    text_col,
    label_col,
    dry_run,
    macro_f1_tolerance,
    recall_tolerance,
    language_tolerance,
    ece_tolerance,
    seed,
    as_json,
):
    """Train a challenger on corpus + history + corrections; promote it if it passes the gate.

    Exit status: 0 promoted (or would be, with --dry-run), 3 rejected, 1 failed, 2 bad input.
    """
    from tqdm import tqdm

    from triage.jobs.gate import GatePolicy
    from triage.jobs.retrain import EXIT_FAILED, retrain_cases
    from triage.store import Store

    settings = settings_from_context()
    history = _labelled(history_path, text_col, label_col)
    evaluation = _labelled(eval_path, text_col, label_col)
    store = Store.from_settings(settings)
    try:
        store.migrate()
        corrections = pd.DataFrame(
            store.corrections(), columns=["prediction_id", "text", "category", "created_at"]
        )
    finally:
        store.dispose()
    policy = GatePolicy(macro_f1_tolerance, recall_tolerance, language_tolerance, ece_tolerance)
    bar = tqdm(total=8, desc="training the challenger", unit="step", leave=False, file=sys.stderr)
    try:
        result = retrain_cases(
            settings,
            corrections,
            history=history,
            evaluation=evaluation,
            policy=policy,
            dry_run=dry_run,
            seed=seed,
            progress=lambda message: bar.update(1),
        )
    except Exception as exc:  # noqa: BLE001 - a scheduler needs "failed" as an exit status
        from triage.errors import TriageError

        bar.close()
        if isinstance(exc, TriageError):
            raise
        click.echo(f"retrain cases: failed: {type(exc).__name__}: {exc}", err=True)
        sys.exit(EXIT_FAILED)
    bar.close()
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.summary())
        click.echo(f"report: {result.report_dir / 'report.md'}")
    sys.exit(result.exit_code)


@click.group()
def monitor() -> None:
    """Drift signals of the prediction log against the model's training data."""


@monitor.command("cases")
@click.option(
    "--days",
    default=28,
    show_default=True,
    type=click.IntRange(1, 3650),
    help="How far back to read the prediction log.",
)
@click.option(
    "--period",
    type=click.Choice(["D", "W", "M"]),
    default="W",
    show_default=True,
    help="Group by day, week or month.",
)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def monitor_cases(days, period, as_json):
    """Category mix, language mix and confidence over time versus the champion's training data."""
    from triage.jobs.monitor import case_drift

    report = case_drift(settings_from_context(), days=days, period=period)
    if as_json:
        echo_json(report)
        return
    overall = report["overall"]
    click.echo(
        f"model {report['model']['version']}: {overall['n']} predictions in the last {days} days, "
        f"status {overall['status']}"
    )
    if overall["n"]:
        click.echo(
            f"  PSI category {overall['category_psi']} ({overall['category_status']}), "
            f"language {overall['language_psi']} ({overall['language_status']}), "
            f"confidence {overall['confidence_psi']} ({overall['confidence_status']})"
        )
    for row in report["periods"]:
        if "category_psi" in row:
            click.echo(
                f"  {row['period']}: n={row['n']} PSI category {row['category_psi']} "
                f"language {row['language_psi']} confidence {row['confidence_psi']} "
                f"mean confidence {row['mean_confidence']}"
            )
        else:
            click.echo(f"  {row['period']}: n={row['n']} ({row['note']})")


def register(cli) -> None:
    cli.add_command(retrain)
    cli.add_command(monitor)
