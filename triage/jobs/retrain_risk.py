"""``triage retrain risk``: a challenger delay-risk model against the champion, on a holdout in time.

    >>> orders, events, source = default_training_data()                     # doctest: +SKIP
    >>> result = retrain_risk(settings, orders, events, source=source, holdout_days=14)  # doctest: +SKIP
    >>> result.status, result.exit_code, result.summary()                    # doctest: +SKIP

The holdout is every order purchased from its start (`holdout_from`; or the last `holdout_days`
days of purchases; by default the latest 20 % of orders). The challenger trains on the orders
purchased before it; challenger and champion are both scored on the holdout's snapshots (each
snapshot sees only what was known at its time), per decision point and through the suggestion
policy (each model with its own threshold). The gate (`triage.jobs.gate.compare_risk`) promotes
only if no decision point's ROC AUC falls and no decision point's Brier score rises beyond its
tolerance; a challenger that fails is kept as a rejected version with the reason.

A gradient-boosted challenger is also set beside a plain logistic regression trained on the same
orders and scored on the same holdout (`LogisticRiskModel`, the benchmarks' baseline): the report
shows both, a note says where the challenger ranks the holdout worse, and with
``RiskGatePolicy.baseline_tolerance`` the gate rejects it there. On real orders such a model can
learn what does not last and lose to the baseline out of time (docs/BENCHMARKS.md, issue 16); this
is where an operator sees it on their own data. A dry run
registers nothing. The report goes to ``<data_dir>/reports/retrain-risk-<time>/``; exit statuses
as in triage/jobs/outcome.py.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from triage.config import Settings
from triage.errors import InputError, ModelError, ModelNotFoundError
from triage.jobs.gate import GateDecision, RiskGatePolicy, baseline_checks, compare_risk
from triage.jobs.outcome import dry_run_status, exit_code, report_folder, settle
from triage.jobs.risk_report import write_risk_report
from triage.orders.data.simulator import simulate_marketplace
from triage.orders.default import DEFAULT_DAYS, DEFAULT_ORDERS, DEFAULT_START
from triage.orders.risk.report import report_writer
from triage.orders.risk.scoring import RISK_MODEL_NAME
from triage.orders.risk.snapshots import DAY
from triage.orders.risk.training import (
    RiskDataset,
    build_dataset,
    evaluate_risk,
    fit_risk_model,
    model_metadata,
    time_split,
)
from triage.registry import LoadedModel, Registry

__all__ = ["RiskRetrainResult", "default_training_data", "holdout_start", "retrain_risk"]

FEW_LATE = 50  # fewer late holdout orders than this: differences between models are mostly noise


def default_training_data(seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, str]:
    """(orders, events, source): the simulated marketplace the default risk model trains on.

    Train with ``params=triage.orders.default.DEFAULT_PARAMS`` to mirror the default model.
    """
    sim = simulate_marketplace(DEFAULT_ORDERS, seed=seed, start=DEFAULT_START, days=DEFAULT_DAYS)
    source = (
        f"simulate_marketplace({DEFAULT_ORDERS}, seed={seed}, start={DEFAULT_START}, "
        f"days={DEFAULT_DAYS}), the default risk model's data"
    )
    return sim.orders, sim.events, source


def _utc(value: str | pd.Timestamp) -> pd.Timestamp:
    try:
        stamp = pd.Timestamp(value)
    except (ValueError, TypeError):
        raise InputError(
            f"holdout start {value!r} is not a date or time (use ISO 8601, e.g. 2024-11-20)"
        ) from None
    if pd.isna(stamp):
        raise InputError(f"holdout start {value!r} is not a date or time")
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def holdout_start(
    dataset: RiskDataset,
    *,
    holdout_from: str | pd.Timestamp | None = None,
    holdout_days: int | None = None,
) -> pd.Timestamp:
    """The first purchase time of the holdout: `holdout_from`, the start of the last
    `holdout_days` calendar days (UTC) of purchases, or else where the latest 20 % of orders begin."""
    if holdout_from is not None and holdout_days is not None:
        raise InputError("give a holdout start date or a number of holdout days, not both")
    if holdout_from is not None:
        return _utc(holdout_from)
    if holdout_days is not None:
        if holdout_days < 1:
            raise InputError(f"the holdout needs at least one day, not {holdout_days}")
        last_day = int(dataset.purchase.max()) // DAY * DAY
        return pd.Timestamp(last_day - (holdout_days - 1) * DAY, unit="s", tz="UTC")
    _, test = time_split(dataset)
    return pd.Timestamp(int(dataset.purchase[test].min()), unit="s", tz="UTC")


@dataclass
class RiskRetrainResult:
    """Outcome of one risk retraining run."""

    status: str  # promoted | rejected | dry-run-promote | dry-run-reject
    decision: GateDecision
    source: str
    holdout: dict
    training: dict
    champion_version: str | None
    challenger_version: str | None
    report_dir: Path
    challenger_metrics: dict
    champion_metrics: dict | None = None
    notes: list[str] = field(default_factory=list)
    # the logistic baseline trained on the same orders, on the holdout (gradient-boosted runs)
    baseline_metrics: dict | None = None

    @property
    def exit_code(self) -> int:
        return exit_code(self.status)

    def _pairs(self, metric: str) -> str:
        old = (self.champion_metrics or {}).get("decision_points", {})
        return ", ".join(
            f"{point} {row[metric]}/{old.get(point, {}).get(metric, '-')}"
            for point, row in self.challenger_metrics["decision_points"].items()
        )

    def summary(self) -> str:
        """One line for logs and schedulers (figures: challenger/champion)."""
        new = self.challenger_metrics["policy"]
        old = (self.champion_metrics or {}).get("policy", {})
        line = (
            f"retrain risk: {self.status}; challenger {self.challenger_version or '(not registered)'} "
            f"vs champion {self.champion_version or '-'} on {self.holdout['orders']} holdout orders "
            f"purchased from {self.holdout['start'][:10]}; ROC AUC new/old {self._pairs('roc_auc')}; "
            f"Brier new/old {self._pairs('brier')}; policy precision {new['precision']}/"
            f"{old.get('precision', '-')}"
        )
        if self.baseline_metrics is not None:
            line += "; logistic baseline ROC AUC " + ", ".join(
                f"{point} {row['roc_auc']}"
                for point, row in self.baseline_metrics["decision_points"].items()
            )
        return line + (
            f"; rejected because {'; '.join(self.decision.reasons)}"
            if self.decision.reasons
            else ""
        )

    def to_dict(self) -> dict:
        return {
            "status": self.status,
            "source": self.source,
            "champion_version": self.champion_version,
            "challenger_version": self.challenger_version,
            "decision": self.decision.to_dict(),
            "holdout": self.holdout,
            "training": self.training,
            "notes": self.notes,
            "report": str(self.report_dir / "report.md"),
            "champion_metrics": self.champion_metrics,
            "challenger_metrics": self.challenger_metrics,
            "baseline_metrics": self.baseline_metrics,
        }


def _champion(registry: Registry) -> LoadedModel | None:
    try:
        loaded = registry.load(RISK_MODEL_NAME)
    except ModelNotFoundError:
        return None
    if loaded.metadata.get("kind") != "risk_model":
        raise ModelError(
            f"the champion {RISK_MODEL_NAME}@{loaded.version} is not a risk model "
            f"(kind {loaded.metadata.get('kind')!r}); promote a risk model or remove it"
        )
    return loaded


def _period(dataset: RiskDataset, mask: np.ndarray) -> dict:
    rows = np.unique(dataset.snapshots["row"].to_numpy()[mask])
    late = dataset.y[mask]
    by_order = pd.Series(late).groupby(dataset.snapshots["row"].to_numpy()[mask]).max()
    purchased = dataset.orders["purchased_at"].iloc[rows]
    return {
        "from": purchased.min().isoformat(),
        "until": purchased.max().isoformat(),
        "orders": int(len(rows)),
        "late_orders": int(by_order.sum()),
        "snapshots": int(mask.sum()),
    }


def _below_baseline(challenger: dict, baseline: dict | None) -> list[str]:
    """A note per decision point where the challenger ranks the holdout worse than the logistic
    baseline (whether or not the gate holds it to the baseline)."""
    if baseline is None:
        return []
    checks = baseline_checks(challenger, baseline, tolerance=0.0)  # one per point, in order
    return [
        f"at {point} the challenger ranks the holdout worse than a logistic regression trained "
        f"on the same orders (ROC AUC {check.challenger} against {check.champion}); "
        "`--kind logistic` trains that model, `--baseline-tolerance` gates on it"
        for point, check in zip(baseline["decision_points"], checks, strict=True)
        if not check.passed
    ]


def retrain_risk(
    settings: Settings,
    orders: pd.DataFrame,
    events: pd.DataFrame,
    *,
    source: str,
    holdout_from: str | pd.Timestamp | None = None,
    holdout_days: int | None = None,
    policy: RiskGatePolicy | None = None,
    dry_run: bool = False,
    kind: str = "hgb",
    params: dict | None = None,
    target_precision: float = 0.6,
    seed: int = 0,
    progress: Callable[[str], None] | None = None,
) -> RiskRetrainResult:
    """Train a challenger before the holdout, score it and the champion on it, gate, act, report.

    `orders` and `events` are validated canonical tables (triage.orders.data.files.read_order_tables);
    `source` says where they came from (recorded in the metadata and the report). `params` go to
    the estimator (``random_state`` defaults to `seed` for the gradient-boosted model).
    """
    if policy is not None and policy.baseline_tolerance is not None and kind != "hgb":
        raise InputError(
            "a baseline tolerance holds a gradient-boosted challenger to a logistic baseline; "
            f"a {kind} challenger has none (drop --baseline-tolerance or use --kind hgb)"
        )
    dataset = build_dataset(orders, events, progress=progress)
    start = holdout_start(dataset, holdout_from=holdout_from, holdout_days=holdout_days)
    train, test = time_split(dataset, test_from=start)
    registry = Registry(settings.models_dir)
    champion = _champion(registry)  # before training: a wrong champion fails fast
    if kind == "hgb":
        params = {"random_state": seed, **(params or {})}
    challenger = fit_risk_model(
        dataset, train, kind=kind, params=params, target_precision=target_precision
    )
    if progress:
        progress("challenger trained")
    new_metrics, new_proba = evaluate_risk(challenger, dataset, test)
    scored = {"challenger": (new_proba, challenger.threshold_)}
    old_metrics = None
    if champion is not None:
        old_metrics, old_proba = evaluate_risk(champion.model, dataset, test)
        scored["champion"] = (old_proba, getattr(champion.model, "threshold_", 0.5))
    if progress:
        progress("evaluated")
    baseline_metrics = None
    if kind == "hgb":  # a logistic challenger is its own baseline
        baseline = fit_risk_model(
            dataset, train, kind="logistic", target_precision=target_precision
        )
        baseline_metrics, _ = evaluate_risk(baseline, dataset, test)
        if progress:
            progress("baseline")
    decision = compare_risk(old_metrics, new_metrics, policy, baseline=baseline_metrics)

    holdout = {"start": start.isoformat(), **_period(dataset, test)}
    training = _period(dataset, train)
    notes = []
    trained_until = ((champion.metadata.get("data") or {}) if champion else {}).get(
        "purchased_until"
    )
    if trained_until and pd.Timestamp(trained_until) >= start:
        notes.append(
            f"the champion trained on orders purchased until {trained_until}, inside the holdout "
            "period: if that was this data, its figures here are optimistic"
        )
    notes.extend(_below_baseline(new_metrics, baseline_metrics))
    if holdout["late_orders"] < FEW_LATE:
        notes.append(
            f"the holdout holds only {holdout['late_orders']} late orders: small differences "
            "between the models are noise; hold out a longer period"
        )
    report_dir = report_folder(settings, "risk")
    version = None
    if dry_run:
        status = dry_run_status(decision)
    else:
        scope = f"holdout: orders purchased from {start.isoformat()} (not trained on)"
        metrics = {**new_metrics, "evaluated_on": scope, "gate": decision.to_dict()}
        if baseline_metrics is not None:
            metrics["baseline_roc_auc"] = {
                point: row["roc_auc"] for point, row in baseline_metrics["decision_points"].items()
            }
        metadata = model_metadata(
            challenger, dataset, train, metrics=metrics, source=source, kind=kind
        )
        writer = report_writer(
            new_metrics,
            new_proba,
            dataset.y[test],
            title="Retrained risk model on the holdout",
            notes=[f"Trained on {source}, orders purchased before {start.isoformat()}; {scope}."],
        )
        status, version = settle(registry, RISK_MODEL_NAME, challenger, metadata, writer, decision)
    result = RiskRetrainResult(
        status=status,
        decision=decision,
        source=source,
        holdout=holdout,
        training=training,
        champion_version=champion.version if champion else None,
        challenger_version=version,
        report_dir=report_dir,
        challenger_metrics=new_metrics,
        champion_metrics=old_metrics,
        notes=notes,
        baseline_metrics=baseline_metrics,
    )
    write_risk_report(result, dataset, test, scored)
    if progress:
        progress("reported")
    return result
