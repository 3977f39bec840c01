"""The default risk model (trained on simulated orders) and a day of simulated open orders.

`make run` calls `ensure_default_risk_model` through ``triage bootstrap``: when the registry has
no champion named ``risk`` it simulates `DEFAULT_ORDERS` orders (fixed seed), trains on the
earliest 80 % by purchase time, evaluates on the rest, registers and promotes the model.
`write_demo_orders` writes simulated orders cut at a moment of the simulation, so that some
are open and at risk, for the service to load.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pandas as pd

from triage.config import Settings
from triage.errors import ModelNotFoundError
from triage.orders.data.fields import TIME_COLUMNS
from triage.orders.data.files import write_order_tables
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.risk.report import report_writer
from triage.orders.risk.scoring import RISK_MODEL_NAME
from triage.orders.risk.snapshots import censor
from triage.orders.risk.training import (
    build_dataset,
    evaluate_risk,
    fit_risk_model,
    model_metadata,
    time_split,
)
from triage.registry import Registry

__all__ = [
    "DEFAULT_ORDERS",
    "demo_open_orders",
    "ensure_default_risk_model",
    "move_to_day",
    "train_default_risk_model",
    "write_demo_orders",
]

DEFAULT_ORDERS = 10_000
DEFAULT_START = "2024-10-01"  # covers the 11.11 peak
DEFAULT_DAYS = 60
DEFAULT_PARAMS = {"max_iter": 120}  # keeps `make run` fast; benchmarks use the full default


def train_default_risk_model(
    settings: Settings, *, seed: int = 0, progress: Callable[[str], None] | None = None
) -> str:
    """Simulate, train, evaluate on the latest 20 % of orders, register and promote."""
    sim = simulate_marketplace(DEFAULT_ORDERS, seed=seed, start=DEFAULT_START, days=DEFAULT_DAYS)
    if progress:
        progress("simulated")
    dataset = build_dataset(sim.orders, sim.events, progress=progress)
    train, test = time_split(dataset)
    model = fit_risk_model(
        dataset, train, params={**DEFAULT_PARAMS, "random_state": seed}, progress=progress
    )
    metrics, proba = evaluate_risk(model, dataset, test)
    metrics["evaluated_on"] = "latest 20 % of simulated orders by purchase time (not trained on)"
    source = f"simulate_marketplace({DEFAULT_ORDERS}, seed={seed}, start={DEFAULT_START}, days={DEFAULT_DAYS})"
    metadata = model_metadata(model, dataset, train, metrics=metrics, source=source, kind="hgb")
    writer = report_writer(
        metrics,
        proba,
        dataset.y[test],
        title="Default risk model: simulated marketplace",
        notes=[f"Trained on {source}, earliest 80 % of orders; figures on the latest 20 %."],
    )
    registry = Registry(settings.models_dir)
    version = registry.create(RISK_MODEL_NAME, model, metadata, writer)
    registry.promote(
        RISK_MODEL_NAME, version, reason="bootstrap: default risk model from simulated orders"
    )
    if progress:
        progress("registered")
    return version


def ensure_default_risk_model(
    settings: Settings, *, progress: Callable[[str], None] | None = None
) -> tuple[str, bool]:
    """The champion risk model's version, training the default one first if there is none."""
    registry = Registry(settings.models_dir)
    try:
        loaded = registry.load(RISK_MODEL_NAME)
    except ModelNotFoundError:
        return train_default_risk_model(settings, progress=progress), True
    return loaded.version, False


def demo_open_orders(
    *, seed: int = 1, n_orders: int = 3_000
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timestamp]:
    """Simulated (orders, events) as known at the end of their last purchase day, and that time.

    About a day of purchases plus the earlier orders still on their way are open then.
    """
    sim = simulate_marketplace(n_orders, seed=seed, start=DEFAULT_START, days=DEFAULT_DAYS // 2)
    at = sim.orders["purchased_at"].max().ceil("D")
    orders, events = censor(sim.orders, sim.events, at)
    return orders, events, at


def move_to_day(
    orders: pd.DataFrame, events: pd.DataFrame, at: pd.Timestamp, day: pd.Timestamp
) -> tuple[pd.DataFrame, pd.DataFrame, pd.Timedelta]:
    """(orders, events, shift): simulated tables moved by whole days so that `at`, their last
    moment, falls on the midnight that starts `day`. The orders open at `at` are open then."""
    shift = pd.Timestamp(day).floor("D") - at.floor("D")
    orders = orders.copy()
    for column in TIME_COLUMNS:
        orders[column] = orders[column] + shift
    return orders, events.assign(time=events["time"] + shift), shift


def write_demo_orders(settings: Settings) -> tuple[Path, Path, pd.Timestamp]:
    """Write the demo open orders to ``<data_dir>/demo/orders.parquet`` (and its events)."""
    orders, events, at = demo_open_orders()
    folder = settings.data_dir / "demo"
    paths = write_order_tables(orders, events, folder / "orders.parquet")
    return paths[0], paths[1], at
