"""``triage models``, ``triage bootstrap`` and ``triage corpus``: commands not tied to one model."""

from __future__ import annotations

import sys

import click

from triage.console import echo_json, handle_errors, settings_from_context

__all__ = ["register"]


@click.group()
def models() -> None:
    """List, promote and roll back registered model versions."""


def _headline(metrics: dict) -> str:
    """A few figures of a version for one line: classifier accuracy, or risk ROC AUC per point."""
    if "decision_points" in metrics:
        aucs = ", ".join(
            f"{point} {row['roc_auc']}"
            for point, row in metrics["decision_points"].items()
            if isinstance(row.get("roc_auc"), float)
        )
        return f"ROC AUC {aucs}" if aucs else ""
    headline = metrics.get("held_out", metrics)
    return ", ".join(
        f"{k} {headline[k]}"
        for k in ("accuracy", "macro_f1", "ece")
        if isinstance(headline.get(k), float)
    )


@models.command("list")
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True)
@handle_errors
def models_list(name, as_json):
    """Registered versions of NAME (or of every model), oldest first."""
    from triage.registry import Registry

    registry = Registry(settings_from_context().models_dir)
    names = [name] if name else registry.names()
    listing = {n: registry.versions(n) for n in names}
    if as_json:
        echo_json(listing)
        return
    if not any(listing.values()):
        click.echo(f"no models in {registry.root}")
        return
    for n, versions in listing.items():
        click.echo(n)
        for meta in versions:
            figures = _headline(meta.get("metrics", {}))
            reason = f"  ({meta['rejected_reason']})" if meta.get("rejected_reason") else ""
            click.echo(
                f"  {meta['version']}  {meta['status']:9s}  {meta.get('created_at', '')}  {figures}{reason}"
            )


@models.command("promote")
@click.argument("name")
@click.argument("version")
@handle_errors
def models_promote(name, version):
    """Make VERSION the champion of NAME."""
    from triage.registry import Registry

    Registry(settings_from_context().models_dir).promote(name, version, reason="promoted by hand")
    click.echo(f"{name}: champion is now {version}")


@models.command("rollback")
@click.argument("name")
@handle_errors
def models_rollback(name):
    """Make the previous champion of NAME the champion again."""
    from triage.registry import Registry

    version = Registry(settings_from_context().models_dir).rollback(name)
    click.echo(f"{name}: rolled back, champion is now {version}")


class _LazyBar:
    """A progress bar that appears only if training actually starts."""

    def __init__(self, label: str, steps: int):
        self.label, self.steps, self.bar = label, steps, None

    def __call__(self, message: str) -> None:
        if self.bar is None:
            self.bar = click.progressbar(length=self.steps, label=self.label, file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def _ensure(kind: str, name: str, ensure, steps: int) -> None:
    bar = _LazyBar(f"training the default {kind} model", steps)
    try:
        version, trained = ensure(settings_from_context(), progress=bar)
    finally:
        bar.close()
    state = "trained and registered" if trained else "already registered"
    click.echo(f"{kind} model: {state} {name}@{version}")


@click.command()
@click.option(
    "--demo-orders",
    is_flag=True,
    help="Also load a day of simulated open orders, with their suggested cases, into the "
    "service database when it has no orders yet (make run does).",
)
@handle_errors
def bootstrap(demo_orders):
    """Train and register the default models when none are registered."""
    from triage.cases.default import ensure_default_case_model
    from triage.orders.default import ensure_default_risk_model

    _ensure("case", "cases", ensure_default_case_model, steps=8)
    _ensure("risk", "risk", ensure_default_risk_model, steps=5)
    if demo_orders:
        from triage.orders.service import ensure_demo_orders

        loaded = ensure_demo_orders(settings_from_context())
        if loaded is None:
            click.echo("demo orders: the database has orders already; none loaded")
        else:
            click.echo(
                f"demo orders: loaded {loaded.orders} simulated orders and {loaded.events} "
                f"tracking events (moved {loaded.shifted_days} days to end today); "
                f"{loaded.scored} open, {len(loaded.suggestions)} suggested cases "
                "(GET /v1/suggestions)"
            )


@click.group()
def corpus() -> None:
    """Check the seed case corpus."""


@corpus.command("check")
@handle_errors
def corpus_check():
    """Counts per category and language; fails on near-duplicate texts."""
    from triage.corpus import main as corpus_main

    raise SystemExit(corpus_main(["check", "--dir", str(settings_from_context().corpus_dir)]))


def register(cli) -> None:
    """Attach these commands to the root group."""
    cli.add_command(models)
    cli.add_command(bootstrap)
    cli.add_command(corpus)
