"""``triage train|evaluate risk``, ``triage score-orders``, ``triage simulate``, ``triage import olist``."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from triage.console import echo_json, handle_errors, resolve_model, settings_from_context
from triage.errors import InputError
from triage.scale.options import engine_options, progress_bars

__all__ = ["register"]

_DATA = click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Orders file (CSV, JSONL or Parquet).",
)
_EVENTS = click.option(
    "--events",
    "events_path",
    default=None,
    type=click.Path(path_type=Path),
    help="Tracking events file (optional).",
)


# shared with `triage retrain risk` (triage.jobs.commands)
KIND_OPTION = click.option(
    "--kind",
    type=click.Choice(["hgb", "logistic"]),
    default="hgb",
    show_default=True,
    help="Gradient boosting, or the logistic baseline.",
)
TARGET_PRECISION_OPTION = click.option(
    "--target-precision",
    default=0.6,
    show_default=True,
    type=click.FloatRange(0.05, 1.0),
    help="Order-level precision the suggestion threshold aims at.",
)


def _steps(total: int, label: str):
    from tqdm import tqdm

    bar = tqdm(total=total, desc=label, unit="step", leave=False, file=sys.stderr)

    def step(message: str) -> None:
        bar.set_postfix_str(message)
        bar.update(1)

    return bar, step


def _timestamp(value: str | None, option: str):
    if value is None:
        return None
    import pandas as pd

    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(
            f"{option}: {value!r} is not a date or time (use ISO 8601, e.g. 2017-10-01)"
        ) from None
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _summary(metrics: dict) -> list[str]:
    lines = []
    for point, row in metrics["decision_points"].items():
        lines.append(
            f"  {point:10s} ROC AUC {row['roc_auc']}  PR AUC {row['pr_auc']}  Brier {row['brier']}  "
            f"top10% P {row['precision_top10']} R {row['recall_top10']}  n={row['snapshots']} late {row['late_rate']}"
        )
    policy = metrics["policy"]
    lines.append(
        f"  policy     threshold {policy['threshold']}: {policy['suggestions']} suggestions, precision "
        f"{policy['precision']}, recall {policy['recall']}, median lead {policy['median_lead_days']} days"
    )
    return lines


@click.command("risk")
@_DATA
@_EVENTS
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Write the model directory here.",
)
@click.option(
    "--register",
    "register_name",
    default=None,
    help="Add the model to the registry under this name instead of --out.",
)
@click.option(
    "--promote/--no-promote", default=False, help="With --register: make it the champion."
)
@click.option(
    "--test-from",
    default=None,
    help="Orders purchased from this date are held out for the report (default: the latest 20 %).",
)
@click.option("--test-until", default=None, help="End (exclusive) of the held-out purchases.")
@KIND_OPTION
@TARGET_PRECISION_OPTION
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--json", "as_json", is_flag=True, help="Print the metrics as JSON.")
@handle_errors
def train_risk(
    data_path,
    events_path,
    out,
    register_name,
    promote,
    test_from,
    test_until,
    kind,
    target_precision,
    seed,
    as_json,
):
    """Train a delayed-order risk model on orders purchased before the held-out period."""
    from triage.orders.data.files import read_order_tables
    from triage.orders.risk.report import report_writer
    from triage.orders.risk.training import (
        build_dataset,
        evaluate_risk,
        fit_risk_model,
        model_metadata,
        time_split,
    )
    from triage.registry import Registry, check_model_name, save_model_dir

    if (out is None) == (register_name is None):
        raise InputError("give exactly one of --out DIR or --register NAME")
    if register_name is not None:
        check_model_name(register_name)
    test_start = _timestamp(test_from, "--test-from")
    test_stop = _timestamp(test_until, "--test-until")
    orders, events = read_order_tables(data_path, events_path)
    bar, step = _steps(4, "training")
    try:
        dataset = build_dataset(orders, events, progress=step)
        train, test = time_split(dataset, test_from=test_start, test_until=test_stop)
        params = {"random_state": seed} if kind == "hgb" else None
        model = fit_risk_model(
            dataset,
            train,
            kind=kind,
            params=params,
            target_precision=target_precision,
            progress=step,
        )
        metrics, proba = evaluate_risk(model, dataset, test)
        step("evaluated")
    finally:
        bar.close()
    scope = (
        f"held-out orders purchased from {test_from}"
        if test_from
        else "held-out latest 20 % of orders by purchase time"
    )
    metrics["evaluated_on"] = scope
    metadata = model_metadata(
        model, dataset, train, metrics=metrics, source=str(data_path), kind=kind
    )
    writer = report_writer(
        metrics,
        proba,
        dataset.y[test],
        title=f"Risk model trained on {data_path.name}",
        notes=[f"Figures from {scope} (not trained on)."],
    )
    if out is not None:
        save_model_dir(out, model, {**metadata, "name": out.name, "version": out.name}, writer)
        where = str(out)
    else:
        registry = Registry(settings_from_context().models_dir)
        version = registry.create(register_name, model, metadata, writer)
        if promote:
            registry.promote(register_name, version)
        where = f"{register_name}@{version}" + (" (champion)" if promote else "")
    if as_json:
        echo_json({"model": where, "metrics": metrics})
        return
    click.echo(
        f"trained on {metadata['data']['orders']} orders ({metadata['data']['snapshots']} snapshots) -> {where}"
    )
    bare, fallback = metadata["data"]["bare_orders"], metadata.get("fallback_features")
    if bare and fallback:
        click.echo(
            f"{bare} of them came without any optional field (seller, buyer, items, carrier): "
            f"orders like them are scored by the fallback model on {len(fallback)} features"
        )
    click.echo(f"{scope}:")
    for line in _summary(metrics):
        click.echo(line)


@click.command("risk")
@click.option(
    "--model", "model_ref", required=True, help="Model directory, or registry NAME[@VERSION]."
)
@_DATA
@_EVENTS
@click.option(
    "--from",
    "from_",
    default=None,
    help="Evaluate orders purchased from this date (the rest is history only).",
)
@click.option("--until", default=None, help="...and before this date (exclusive).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@handle_errors
def evaluate_risk_command(model_ref, data_path, events_path, from_, until, as_json):
    """Evaluate a risk model per decision point, and its suggestion policy."""
    import numpy as np

    from triage.orders.data.files import read_order_tables
    from triage.orders.risk.training import build_dataset, evaluate_risk

    loaded = resolve_model(model_ref, settings_from_context())
    if loaded.metadata.get("kind") != "risk_model":
        raise InputError(f"{model_ref} is not a risk model")
    start, stop = _timestamp(from_, "--from"), _timestamp(until, "--until")
    orders, events = read_order_tables(data_path, events_path)
    dataset = build_dataset(orders, events)
    mask = np.ones(len(dataset.y), bool)
    if start is not None:
        mask &= dataset.purchase >= int(start.timestamp())
    if stop is not None:
        mask &= dataset.purchase < int(stop.timestamp())
    if not mask.any():
        raise InputError("no labelled snapshots in the chosen period")
    metrics, _ = evaluate_risk(loaded.model, dataset, mask)
    metrics["model"] = {"name": loaded.name, "version": loaded.version}
    if as_json:
        echo_json(metrics)
        return
    click.echo(f"{metrics['orders']} orders, model {loaded.name}@{loaded.version}")
    for line in _summary(metrics):
        click.echo(line)


@click.command("score-orders")
@click.option(
    "--model",
    "model_ref",
    default="risk",
    show_default=True,
    help="Model directory, or registry NAME[@VERSION].",
)
# text, not Path: with --engine dask they may be fsspec URLs (Path would fold s3:// to s3:/)
@click.option(
    "--data",
    "data_path",
    required=True,
    type=click.Path(),
    help="Orders file (CSV, JSONL or Parquet); with --engine dask a Parquet file or directory "
    "of parts, a path or fsspec URL.",
)
@click.option(
    "--events",
    "events_path",
    default=None,
    type=click.Path(),
    help="Tracking events file (optional); with --engine dask as --data.",
)
@click.option(
    "--as-of",
    default=None,
    help="Score as known at this time (default: the latest time in the data).",
)
@click.option(
    "--cases",
    "cases_path",
    default=None,
    type=click.Path(path_type=Path),
    help="File with an order_id column: orders that already have a case.",
)
@click.option(
    "--out",
    "out_path",
    default=None,
    type=click.Path(),
    help="Write the suggestions here (CSV, JSONL or Parquet). With --engine dask: the "
    "directory (a path or fsspec URL) the scores are written to, one Parquet part per partition.",
)
@click.option(
    "--store/--no-store",
    "store_suggestions",
    default=None,
    help="[default: store with --engine local] Save the suggestions in the service database (TRIAGE_DATABASE_URL, or "
    "TRIAGE_DATA_DIR/triage.db), where GET /v1/suggestions lists them; orders with a case "
    "there or an open suggestion get no new one, and the open suggestions of orders the files "
    "show delivered, canceled or overdue are closed, as the service does.",
)
@click.option(
    "--state",
    "state_dir",
    default=None,
    type=click.Path(file_okay=False, path_type=Path),
    help="Score day after day reading only the new parts: --data and --events are Parquet "
    "directories that parts are added to, and this directory keeps what the next run needs "
    "(created by the first run; docs/SCALE.md, 'Daily runs').",
)
@engine_options
@click.option("--json", "as_json", is_flag=True, help="Print the suggestions as JSON.")
@handle_errors
def score_orders(
    model_ref,
    data_path,
    events_path,
    as_of,
    cases_path,
    out_path,
    store_suggestions,
    state_dir,
    engine,
    scheduler,
    as_json,
):
    """Score open orders in batch and turn the risky ones into suggested cases.

    With --engine dask, Parquet orders (and events) are scored on a Dask cluster and every open
    order's risk and features are written to the --out directory; suggestions are made by the
    local engine only."""
    if engine == "dask":
        if state_dir is not None:
            raise InputError(
                "--state runs in one process (it reads only the new parts): use it with "
                "--engine local"
            )
        if cases_path is not None or store_suggestions:
            raise InputError(
                "--engine dask writes scores, not suggestions: --cases and --store need "
                "--engine local"
            )
        _score_orders_on_dask(
            model_ref, data_path, events_path, as_of, out_path, scheduler, as_json
        )
        return
    if scheduler is not None:
        raise InputError("--scheduler needs --engine dask")
    store_suggestions = True if store_suggestions is None else store_suggestions
    import datetime as dt

    from tqdm import tqdm

    from triage.orders.data.files import read_order_tables, write_records
    from triage.orders.risk.scoring import RiskScorer, states_of
    from triage.orders.service import OrderService
    from triage.orders.suggestions.lifecycle import settle
    from triage.orders.suggestions.policy import InMemorySuggestionStore, SuggestionPolicy
    from triage.store import Store
    from triage.store_tables import utcnow
    from triage.tables import read_table, require_columns

    settings = settings_from_context()
    when = _timestamp(as_of, "--as-of")
    scorer = RiskScorer.from_loaded(resolve_model(model_ref, settings))
    state = features = None
    let_go: dict[str, str] = {}  # orders the state let go this run: delivered or canceled
    read = ""
    if state_dir is None:
        orders, events = read_order_tables(data_path, events_path)
    else:
        from triage.scale.cluster import parquet_parts
        from triage.scale.state import RiskState

        parquet_parts(str(data_path), "--data", reader="--state")  # before the state is made
        if events_path is not None:
            parquet_parts(str(events_path), "--events", reader="--state")
        state = RiskState.load(state_dir)
        run = state.apply_parts(str(data_path), events_path and str(events_path), as_of=when)
        orders, events, features, when, let_go = (
            run.orders, run.events, run.features, run.as_of, run.closed
        )  # fmt: skip
        read = (
            f" (read {run.read['orders']} orders and {run.read['events']} events from new "
            f"parts; state {state_dir})"
        )
    cases: set[str] = set()
    if cases_path is not None:
        frame = read_table(cases_path, text_columns=["order_id"])
        require_columns(frame, ["order_id"], str(cases_path))
        cases = set(frame["order_id"].dropna().astype(str))
    with tqdm(desc="scoring", unit="order", file=sys.stderr, leave=False) as bar:

        def set_total(n: int) -> None:
            bar.total = n
            bar.refresh()

        frame = scorer.score_frame(
            orders, events, as_of=when, progress=bar.update, total=set_total, features=features
        )
    flagged = frame[frame["flagged"]] if len(frame) else frame
    scores = scorer.describe(flagged, orders, events)

    def file_states(ids: set[str]) -> dict[str, str]:
        # the orders' states as the files tell them at the scoring time
        states = {**let_go, **states_of(orders, events, when)}
        return {order_id: states[order_id] for order_id in ids if order_id in states}

    cooldown = dt.timedelta(days=settings.suggestion_cooldown_days)
    order_ids = list(orders["order_id"]) + list(let_go)
    where, closed = "", []
    if store_suggestions:
        # the service's own step after scoring: policy, and settled orders' suggestions closed
        database = Store.from_settings(settings)
        database.migrate()
        where = database.url.render_as_string()
        done = OrderService(database, cooldown=cooldown).settle(
            scorer, scores, order_ids, utcnow(), has_case=cases, order_states=file_states
        )
        made, closed = done.made, done.closed
    else:
        made = settle(
            SuggestionPolicy(scorer.threshold, cooldown),
            scores,
            InMemorySuggestionStore(),
            order_ids=order_ids,
            order_states=file_states,
            has_case=cases,
            now=utcnow(),
        ).made
    records = [s.to_dict() for s in made]
    if out_path is not None:
        write_records(records, out_path)
    if state is not None:  # last: a run that failed before reads the same parts again
        state.save()
    if as_json:
        echo_json(records)
        return
    as_of_text = frame.attrs.get("as_of", "-")
    click.echo(
        f"scored {len(frame)} open orders as of {as_of_text}{read}: {len(flagged)} at or above the threshold "
        f"{scorer.threshold:.3f}, {len(made)} suggestions"
        + (f" stored in {where}" if where else "")
        + (f", {len(closed)} open suggestions of settled orders closed" if closed else "")
        + (f" -> {out_path}" if out_path else "")
    )
    for s in made[:10]:
        click.echo(
            f"  {s.order_id}  risk {s.risk:.2f}  {s.category}  {s.reasons[0]['text_en'] if s.reasons else ''}"
        )


def _score_orders_on_dask(model_ref, data_path, events_path, as_of, out_path, scheduler, as_json):
    """``score-orders --engine dask``: scores of every open order, part by part."""
    from triage.orders.risk.scoring import RiskScorer
    from triage.scale.cluster import connect, output_dir, parquet_parts
    from triage.scale.orders import score_orders as score_on_cluster

    if out_path is None:
        raise InputError("--engine dask needs --out DIRECTORY for the scores")
    when = _timestamp(as_of, "--as-of")
    scorer = RiskScorer.from_loaded(resolve_model(model_ref, settings_from_context()))
    # the input and output checked before a cluster starts
    parquet_parts(str(data_path), "--data")
    if events_path is not None:
        parquet_parts(str(events_path), "--events")
    output_dir(str(out_path))
    with connect(scheduler) as client, progress_bars() as progress:
        done = score_on_cluster(
            client,
            str(data_path),
            str(events_path) if events_path is not None else None,
            scorer,
            str(out_path),
            as_of=when,
            progress=progress,
        )
    if as_json:
        echo_json(done)
        return
    click.echo(
        f"scored {done['scored']} open orders of {done['orders']} as of {done['as_of']} in "
        f"{done['partitions']} partitions: {done['flagged']} at or above the threshold "
        f"{done['threshold']:.3f} -> {done['out']} ({done['parts']} parts)"
    )


@click.command("simulate")
@click.option(
    "--orders", "n_orders", default=10_000, show_default=True, type=click.IntRange(10, 5_000_000)
)
@click.option("--seed", default=0, show_default=True, type=int)
@click.option("--start", default="2024-01-01", show_default=True, help="First purchase day.")
@click.option(
    "--days",
    default=None,
    type=click.IntRange(7, 3650),
    help="Days of purchases (default: about 280 orders a day).",
)
@click.option(
    "--open-at",
    default=None,
    help="Cut the tables at this time, leaving later deliveries open (for scoring demos).",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Orders file; events go beside it as NAME.events.EXT.",
)
@click.option(
    "--events-out",
    default=None,
    type=click.Path(path_type=Path),
    help="Events file (default: beside --out).",
)
@handle_errors
def simulate(n_orders, seed, start, days, open_at, out_path, events_out):
    """Write simulated marketplace orders and tracking events."""
    from triage.orders.data.files import events_path_for, write_order_tables
    from triage.orders.data.simulator import simulate_marketplace
    from triage.orders.risk.snapshots import censor
    from triage.tables import table_format

    for path in (out_path, events_out or events_path_for(out_path)):
        table_format(Path(path))  # an unknown file type fails now, not after the simulation
    sim = simulate_marketplace(n_orders, seed=seed, start=_timestamp(start, "--start"), days=days)
    orders, events = sim.orders, sim.events
    if open_at is not None:
        orders, events = censor(orders, events, _timestamp(open_at, "--open-at"))
    paths = write_order_tables(orders, events, out_path, events_out)
    click.echo(f"wrote {len(orders)} orders to {paths[0]} and {len(events)} events to {paths[1]}")


@click.group("import")
def import_group() -> None:
    """Import public data sets into the order schema."""


@import_group.command("olist")
@click.option(
    "--dir",
    "directory",
    required=True,
    type=click.Path(path_type=Path),
    help="Folder with the Olist CSV files.",
)
@click.option(
    "--out",
    "out_path",
    required=True,
    type=click.Path(path_type=Path),
    help="Orders file; events go beside it as NAME.events.EXT.",
)
@click.option(
    "--events-out",
    default=None,
    type=click.Path(path_type=Path),
    help="Events file (default: beside --out).",
)
@handle_errors
def import_olist(directory, out_path, events_out):
    """Map the Olist tables (orders.csv required, the others optional) onto the schema."""
    from triage.orders.data.files import write_order_tables
    from triage.orders.data.olist import load_olist

    data = load_olist(directory)
    paths = write_order_tables(data.orders, data.events, out_path, events_out)
    click.echo(
        f"wrote {len(data.orders)} orders to {paths[0]} and {len(data.events)} events to {paths[1]} (tables: {', '.join(data.tables)})"
    )
    for note in data.notes:
        click.echo(f"  note: {note}")


def register(cli, train, evaluate) -> None:
    """Attach the order commands to the root group and the train/evaluate groups."""
    train.add_command(train_risk)
    evaluate.add_command(evaluate_risk_command)
    cli.add_command(score_orders)
    cli.add_command(simulate)
    cli.add_command(import_group)
