"""``triage retrain cases|risk`` and ``triage monitor cases``."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from triage.console import echo_json, handle_errors, settings_from_context
from triage.jobs.gate import RiskGatePolicy
from triage.orders.commands import KIND_OPTION, TARGET_PRECISION_OPTION

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["register"]


def _labelled(path: Path | None, text_col: str, label_col: str) -> pd.DataFrame | None:
    from triage.tables import read_table, require_columns

    if path is None:
        return None
    frame = read_table(path, text_columns=[text_col])
    require_columns(frame, [text_col, label_col], str(path))
    return frame.rename(columns={text_col: "text", label_col: "category"})[
        ["text", "category"]
    ].astype(str)


def _run_job(
    job: str, steps: int, run: Callable[[Callable[[str], None]], Any], as_json: bool
) -> NoReturn:
    """Run a retraining job under a progress bar, print its summary and exit with its status.

    A `TriageError` propagates (one ``error:`` line, exit 2, by `handle_errors`); any other
    failure is reported on one line with exit status 1, which a scheduler reads as "failed".
    """
    from tqdm import tqdm

    from triage.errors import TriageError
    from triage.jobs.outcome import EXIT_FAILED

    # no bar when stderr is not a terminal (cron, systemd): logs keep the summary lines only
    bar = tqdm(
        total=steps, desc=f"retrain {job}", unit="step", leave=False, file=sys.stderr, disable=None
    )
    try:
        result = run(lambda message: bar.update(1))
    except TriageError:
        raise
    except Exception as exc:  # noqa: BLE001 - a scheduler needs "failed" as an exit status
        bar.close()
        message = " ".join(str(exc).split())  # one line, whatever the exception holds
        click.echo(f"retrain {job}: failed: {type(exc).__name__}: {message}", err=True)
        sys.exit(EXIT_FAILED)
    finally:
        bar.close()
    if as_json:
        echo_json(result.to_dict())
    else:
        click.echo(result.summary())
        click.echo(f"report: {result.report_dir / 'report.md'}")
    sys.exit(result.exit_code)


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
    import pandas as pd

    from triage.jobs.gate import GatePolicy
    from triage.jobs.retrain import retrain_cases
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
    _run_job(
        "cases",
        8,
        lambda progress: retrain_cases(
            settings,
            corrections,
            history=history,
            evaluation=evaluation,
            policy=policy,
            dry_run=dry_run,
            seed=seed,
            progress=progress,
        ),
        as_json,
    )


@retrain.command("risk")
@click.option(
    "--data",
    "data_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Orders file (CSV, JSONL or Parquet). Default: simulated orders like the default risk model's.",
)
@click.option(
    "--events",
    "events_path",
    type=click.Path(path_type=Path),
    default=None,
    help="Tracking events file (with --data).",
)
@click.option(
    "--holdout-from",
    default=None,
    help="Orders purchased from this date (ISO 8601) form the holdout.",
)
@click.option(
    "--holdout-days",
    type=click.IntRange(1, 3650),
    default=None,
    help="The last N days of purchases form the holdout. Default: the latest 20 % of orders.",
)
@click.option(
    "--dry-run", is_flag=True, help="Train and evaluate, show the decision, register nothing."
)
@click.option(
    "--roc-auc-tolerance",
    default=RiskGatePolicy.roc_auc_tolerance,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Largest ROC AUC drop allowed at any decision point.",
)
@click.option(
    "--brier-tolerance",
    default=RiskGatePolicy.brier_tolerance,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Largest Brier score rise allowed at any decision point.",
)
@click.option(
    "--baseline-tolerance",
    default=None,
    type=click.FloatRange(0, 1),
    help="Also reject a gradient-boosted challenger whose ROC AUC at any decision point is more "
    "than this below a logistic regression trained on the same orders. Default: off (the report "
    "shows both).",
)
@KIND_OPTION
@TARGET_PRECISION_OPTION
@click.option(
    "--from-db",
    is_flag=True,
    help="Train on the orders and tracking events stored in the service database "
    "(ingested with POST /v1/orders and /v1/orders/events).",
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the whole result as JSON.")
@handle_errors
def retrain_risk_command(
    data_path,
    events_path,
    from_db,
    holdout_from,
    holdout_days,
    dry_run,
    roc_auc_tolerance,
    brier_tolerance,
    baseline_tolerance,
    kind,
    target_precision,
    seed,
    as_json,
):
    """Train a challenger delay-risk model before a holdout in time; promote it if it passes the
    gate against the champion on that holdout.

    Exit status: 0 promoted (or would be, with --dry-run), 3 rejected, 1 failed, 2 bad input.
    """
    from triage.errors import InputError
    from triage.jobs.retrain_risk import default_training_data, retrain_risk

    if holdout_from is not None and holdout_days is not None:
        raise InputError("give --holdout-from or --holdout-days, not both")
    if events_path is not None and data_path is None:
        raise InputError("--events needs --data (the orders the events belong to)")
    if from_db and data_path is not None:
        raise InputError("give --data or --from-db, not both")
    settings = settings_from_context()
    params = None
    if from_db:
        from triage.orders.storage import OrderStore
        from triage.store import Store

        store = Store.from_settings(settings)
        try:
            store.migrate()
            orders, events = OrderStore(store).tables()
        finally:
            store.dispose()
        if orders.empty:
            raise InputError("the database holds no orders; ingest some or give --data FILE")
        source = f"orders stored in {settings.effective_database_url.split('://')[0]} database"
    elif data_path is None:
        from triage.orders.default import DEFAULT_PARAMS

        orders, events, source = default_training_data(seed)
        click.echo(f"note: no --data given; training on {source}", err=True)
        params = dict(DEFAULT_PARAMS) if kind == "hgb" else None
    else:
        from triage.orders.data.files import read_order_tables

        orders, events = read_order_tables(data_path, events_path)
        source = str(data_path) + (f" with events {events_path}" if events_path else "")

    def run(progress: Callable[[str], None]):
        return retrain_risk(
            settings,
            orders,
            events,
            source=source,
            holdout_from=holdout_from,
            holdout_days=holdout_days,
            policy=RiskGatePolicy(roc_auc_tolerance, brier_tolerance, baseline_tolerance),
            dry_run=dry_run,
            kind=kind,
            params=params,
            target_precision=target_precision,
            seed=seed,
            progress=progress,
        )

    _run_job("risk", 6 if kind == "hgb" else 5, run, as_json)


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
