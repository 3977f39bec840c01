"""The monitoring page (``/console/monitoring``, analyst): drift of the prediction log over
time (category mix, language mix, confidence) against the champion's training data, the same
report as ``GET /v1/monitoring`` (triage.jobs.monitor.case_drift).

The report reads every prediction of the window (100,000 take about a second with its chart),
so each worker keeps it, with its chart, for `FRESH_SECONDS` per champion, window and period:
the page says when it was computed, and a weekly drift signal does not change in a minute.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from flask import current_app
from flask.typing import ResponseReturnValue

from api.console.access import needs_role
from api.console.blueprint import blueprint, page
from api.console.charts import drift_chart, svg_data_url
from api.runtime import runtime
from api.schemas.monitoring import MAX_DAYS, PERIODS
from api.validation import query_choice, query_int
from api.views.monitoring import PERIOD_MEANING
from triage.errors import ModelError
from triage.jobs.monitor import case_drift
from triage.registry import read_metadata

#: how long a worker reuses a drift report (and its chart) before computing it again
FRESH_SECONDS = 60.0
_CACHE = "triage.console.drift"


class _Reports:
    """This worker's recent drift reports: (champion, days, period) -> (made at, report)."""

    def __init__(self) -> None:
        self.entries: dict[tuple, tuple[float, dict[str, Any]]] = {}
        self.lock = threading.Lock()

    def get(self, key: tuple) -> dict[str, Any] | None:
        with self.lock:
            made, report = self.entries.get(key, (0.0, None))
        return report if report is not None and time.monotonic() - made < FRESH_SECONDS else None

    def put(self, key: tuple, report: dict[str, Any]) -> None:
        with self.lock:
            self.entries = {k: v for k, v in self.entries.items() if k[0] == key[0]}
            self.entries[key] = (time.monotonic(), report)


def _reports() -> _Reports:
    return current_app.extensions.setdefault(_CACHE, _Reports())


def _drift(days: int, period: str) -> dict[str, Any]:
    """The drift report with its reference profile and chart, fresh or from this worker's
    cache; `ModelError` without a champion or a reference profile."""
    state = runtime()
    registry = state.models.registry
    key = (registry.champion("cases"), days, period)
    cached = _reports().get(key)
    if cached is not None:
        return cached
    report = case_drift(state.settings, days=days, period=period, store=state.store)
    model = report["model"]
    report["reference"] = read_metadata(registry.path(model["name"], model["version"]))["reference"]
    svg = drift_chart(report["periods"], f"{model['name']}@{model['version']}")
    report["chart"] = svg_data_url(svg) if svg is not None else None
    report["computed_at"] = time.strftime("%H:%M:%S", time.gmtime())
    _reports().put(key, report)
    return report


@blueprint.get("/monitoring")
@needs_role("analyst")
def monitoring_page() -> ResponseReturnValue:
    """Drift signals of the last `days` of predictions, per `period`."""
    days = query_int("days", 28, 1, MAX_DAYS)
    period = query_choice("period", "W", PERIODS, PERIOD_MEANING)
    report = problem = None
    try:
        report = _drift(days, period)
    except ModelError as exc:  # no champion, or one trained before reference profiles
        problem = str(exc)
    return page(
        "monitoring.html",
        report=report,
        problem=problem,
        chart=report["chart"] if report else None,
        days=days,
        period=period,
        periods=PERIODS,
        reference=report["reference"] if report else {},
    )
