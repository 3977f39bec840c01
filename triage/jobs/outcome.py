"""What a retraining run does with its gate decision; shared by the case and risk jobs.

    >>> status, version = settle(registry, "risk", model, metadata, writer, decision)  # doctest: +SKIP
    >>> folder = report_folder(settings, "risk")   # <data_dir>/reports/retrain-risk-<UTC time>

A challenger that passes the gate is registered and promoted; one that fails is registered and
marked rejected with the gate's reasons, so that it can be inspected (and promoted by hand if a
person decides so). A dry run registers nothing: its status only says what would have happened.

Exit status for schedulers: `EXIT_PROMOTED` 0 (also a dry run that would promote),
`EXIT_REJECTED` 3 (also a dry run that would reject), `EXIT_FAILED` 1 (an unexpected failure),
and 2 for bad input (``triage.console.EXIT_INPUT``).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from triage.config import Settings
from triage.jobs.gate import GateDecision
from triage.registry import Registry

__all__ = [
    "EXIT_FAILED",
    "EXIT_PROMOTED",
    "EXIT_REJECTED",
    "dry_run_status",
    "exit_code",
    "gate_lines",
    "report_folder",
    "settle",
    "write_result",
]

EXIT_PROMOTED, EXIT_FAILED, EXIT_REJECTED = 0, 1, 3
STATUSES = ("promoted", "rejected", "dry-run-promote", "dry-run-reject")


def exit_code(status: str) -> int:
    """The scheduler's exit status of a run that ended with `status` (one of `STATUSES`)."""
    return EXIT_PROMOTED if status in ("promoted", "dry-run-promote") else EXIT_REJECTED


def dry_run_status(decision: GateDecision) -> str:
    """What a dry run reports instead of acting on `decision`."""
    return "dry-run-promote" if decision.promote else "dry-run-reject"


def settle(
    registry: Registry,
    name: str,
    model: Any,
    metadata: dict[str, Any],
    write_extras: Callable[[Path], None] | None,
    decision: GateDecision,
    *,
    reason: str = "retrain: passed the gate",
) -> tuple[str, str]:
    """Register the challenger, then promote it or mark it rejected; returns (status, version)."""
    version = registry.create(name, model, metadata, write_extras)
    if decision.promote:
        registry.promote(name, version, reason=reason)
        return "promoted", version
    registry.reject(name, version, "; ".join(decision.reasons))
    return "rejected", version


def report_folder(settings: Settings, job: str) -> Path:
    """``<data_dir>/reports/retrain-<job>-<UTC time>`` (not created here)."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    return settings.data_dir / "reports" / f"retrain-{job}-{stamp}"


def gate_lines(decision: GateDecision) -> list[str]:
    """The gate's checks as a Markdown table (empty note when there was nothing to check): each
    against the champion's figure or a reference's (the risk gate's logistic baseline)."""
    if not decision.checks:
        return ["No champion to compare with: the challenger passes the gate."]
    lines = [
        "| check | against | reference | challenger | tolerance | passed |",
        "|---|---|---|---|---|---|",
    ]
    for check in decision.checks:
        lines.append(
            f"| {check.name} | {check.against} | {check.champion} | {check.challenger} | "
            f"{check.tolerance} | {'yes' if check.passed else '**no**'} |"
        )
    return lines


def write_result(folder: Path, document: dict[str, Any]) -> Path:
    """``result.json`` of a run, beside its report."""
    path = folder / "result.json"
    path.write_text(
        json.dumps(document, ensure_ascii=False, indent=2, default=str), encoding="utf-8"
    )
    return path
