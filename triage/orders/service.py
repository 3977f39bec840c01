"""The delayed-order capability on the service database: score, ingest, suggest, decide.

What the HTTP endpoints and ``triage bootstrap --demo-orders`` call; no Flask here.

    >>> service = OrderService(Store.from_settings(settings))                   # doctest: +SKIP
    >>> as_of, risks = service.score(scorer, [{"order_id": "A1", ...}], events)  # nothing stored
    >>> result = service.ingest(scorer, orders=[...], events=[...])              # store, re-score
    >>> suggestion, case, prediction = service.accept(router, result.suggestions[0].suggestion_id)

Scores use the stored orders as history: the seller, lane and platform features come from the
orders purchased in the `history_days` before the scoring time. Ingesting orders or events
re-scores the orders they touch as of now, and `settle` (triage.orders.suggestions.lifecycle, the same
step as ``triage score-orders``) turns the flagged ones into suggestions under
`SuggestionPolicy` (threshold of the model, one open suggestion per order, a cooldown after a
dismissal, none when the order has a case) and closes an open suggestion whose order is no
longer open: ``resolved`` (delivered or canceled) or ``expired`` (over 30 days past its
promise). Accepting categorizes the text with triage.cases.intake, as the categorize endpoint
does.

With ``history_cache=True`` (what a service worker uses) the stored orders' history stays in
memory between calls (triage.orders.risk.history_cache), so that scoring one order or ingesting one
event costs milliseconds instead of a rebuild over every stored order, with the same features.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Container, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from triage.cases.intake import CaseText, categorize
from triage.cases.store import CaseRecord, CaseStore
from triage.config import Settings
from triage.errors import InputError
from triage.orders.context import parse_time
from triage.orders.data.schema import events_from_records, orders_from_records
from triage.orders.default import demo_open_orders, move_to_day
from triage.orders.risk.features import OrderFeatures
from triage.orders.risk.history_cache import HistoryCache
from triage.orders.risk.scoring import RiskScore, RiskScorer, states_of
from triage.orders.storage import OrderStore, SavedOrders
from triage.orders.suggestion_store import DatabaseSuggestionStore
from triage.orders.suggestions.lifecycle import close_settled, decide, decide_stored, settle
from triage.orders.suggestions.policy import Suggestion, SuggestionPolicy
from triage.registry import Registry
from triage.store import Store
from triage.store_tables import utcnow

__all__ = [
    "HISTORY_DAYS",
    "DemoLoad",
    "IngestResult",
    "OrderService",
    "Rescored",
    "ensure_demo_orders",
]

HISTORY_DAYS = 120
DRAFT_LANGUAGES = ("zh", "en")


@dataclass
class IngestResult:
    """What an ingest stored, how many open orders it re-scored, and the suggestions it made."""

    as_of: dt.datetime
    saved: SavedOrders
    scored: int
    flagged: int
    suggestions: list[Suggestion] = field(default_factory=list)
    closed: list[Suggestion] = field(default_factory=list)


@dataclass
class Rescored:
    """What `OrderService.rescore` did: suggestions made and closed, orders scored, flagged."""

    made: list[Suggestion]
    closed: list[Suggestion]
    scored: int
    flagged: int


@dataclass
class DemoLoad:
    """The demo orders loaded by `OrderService.load_demo` (None from it: nothing to do)."""

    orders: int
    events: int
    shifted_days: int
    scored: int
    flagged: int
    suggestions: list[Suggestion] = field(default_factory=list)


def _as_of(value: Any) -> dt.datetime:
    return utcnow() if value is None else parse_time(value, "as_of")


def _referenced(events: Iterable[Any]) -> set[str]:
    """Order ids named by event records (validation proper happens in events_from_records)."""
    return {
        str(r["order_id"]).strip()
        for r in events
        if isinstance(r, Mapping) and isinstance(r.get("order_id"), str)
    }


class OrderService:
    """Orders, events, suggestions and cases of one database (see the module docstring)."""

    def __init__(
        self,
        store: Store,
        *,
        cooldown: dt.timedelta = dt.timedelta(days=3),
        history_days: int = HISTORY_DAYS,
        history_cache: bool = False,
    ):
        self.orders = OrderStore(store)
        self.suggestions = DatabaseSuggestionStore(store)
        self.cases = CaseStore(store)
        self.cooldown = cooldown
        self.history = dt.timedelta(days=history_days)
        self.cache = HistoryCache(self.orders, history_days=history_days) if history_cache else None

    def warm(self, now: dt.datetime | None = None) -> None:
        """Build the history cache now (no-op without one), so that requests find it ready."""
        if self.cache is not None:
            self.cache.refresh(now or utcnow())

    def _cached(
        self, orders: pd.DataFrame, events: pd.DataFrame, when: dt.datetime
    ) -> OrderFeatures | None:
        return self.cache.features(orders, events, when) if self.cache is not None else None

    def policy(self, scorer: RiskScorer) -> SuggestionPolicy:
        """The suggestion policy at the model's threshold."""
        return SuggestionPolicy(scorer.threshold, self.cooldown)

    # -- scoring without storing ------------------------------------------------------
    def score(
        self,
        scorer: RiskScorer,
        orders: Sequence[Mapping[str, Any]],
        events: Sequence[Mapping[str, Any]] = (),
        as_of: Any = None,
    ) -> tuple[dt.datetime, list[tuple[str, RiskScore | None]]]:
        """Risk of the given orders with their given events, as of `as_of` (default now).

        Nothing is stored. The given records replace stored ones of the same id (with their
        events) for this calculation; the other stored orders are the history. Each order gets
        its `RiskScore`, or None when it is not open then (delivered, canceled, not purchased
        yet, or more than 30 days past its promise).
        """
        when = _as_of(as_of)
        given = orders_from_records(orders, where="orders")
        given_events = events_from_records(events, order_ids=given["order_id"], where="events")
        ids = given["order_id"]
        features = self._cached(given, given_events, when)
        if features is not None:
            scores = scorer.score(given, given_events, as_of=when, features=features)
        else:
            scores = self._score_rebuilt(scorer, given, given_events, when)
        by_id = {s.order_id: s for s in scores}
        return when, [(order_id, by_id.get(order_id)) for order_id in ids]

    def _score_rebuilt(
        self,
        scorer: RiskScorer,
        given: pd.DataFrame,
        given_events: pd.DataFrame,
        when: dt.datetime,
    ) -> list[RiskScore]:
        """`score` without the cache: the history rebuilt from the stored orders."""
        history, history_events = self.orders.tables(since=when - self.history)
        ids = given["order_id"]
        every = pd.concat([history[~history["order_id"].isin(ids)], given], ignore_index=True)
        every_events = pd.concat(
            [history_events[~history_events["order_id"].isin(ids)], given_events],
            ignore_index=True,
        ).sort_values(["order_id", "time"], kind="stable", ignore_index=True)
        return scorer.score(every, every_events, as_of=when, order_ids=list(ids))

    # -- ingest -----------------------------------------------------------------------
    def ingest(
        self,
        scorer: RiskScorer,
        orders: Sequence[Mapping[str, Any]] = (),
        events: Sequence[Mapping[str, Any]] = (),
        now: dt.datetime | None = None,
    ) -> IngestResult:
        """Validate and store orders and/or events (all or nothing), then re-score the orders
        they touch as of `now` and make suggestions for the flagged ones.

        Events must belong to a stored order or to one of `orders`.
        """
        now = now or utcnow()
        if not orders and not events:
            raise InputError("nothing to ingest: give orders, events or both")
        given = orders_from_records(orders, where="orders") if orders else None
        ids = set(given["order_id"]) if given is not None else set()
        given_events = None
        if events:
            known = ids | self.orders.known(_referenced(events) - ids)
            given_events = events_from_records(events, order_ids=sorted(known), where="events")
        saved = self.orders.save(given, given_events, now)
        if given_events is not None:
            ids |= set(given_events["order_id"])
        done = self.rescore(scorer, ids, now)
        return IngestResult(now, saved, done.scored, done.flagged, done.made, done.closed)

    def rescore(
        self, scorer: RiskScorer, order_ids: Iterable[str] | None, now: dt.datetime
    ) -> Rescored:
        """Score stored orders (all open ones when `order_ids` is None) as of `now`, make
        suggestions for the flagged ones and close those of orders no longer open."""
        wanted = None if order_ids is None else sorted(set(order_ids))
        if wanted is not None and not wanted:
            return Rescored([], [], 0, 0)
        found = None
        if wanted is not None and self.cache is not None:
            found = self.cache.stored(wanted, now)
        if found is not None:
            orders, events, features = found
            scores = scorer.score(orders, events, as_of=now, features=features)
        else:
            orders, events = self.orders.tables(since=now - self.history, include=wanted or ())
            scores = (
                scorer.score(orders, events, as_of=now, order_ids=wanted) if len(orders) else []
            )
        return self.settle(scorer, scores, wanted, now)

    def settle(
        self,
        scorer: RiskScorer,
        scores: Sequence[RiskScore],
        order_ids: Iterable[str] | None,
        now: dt.datetime,
        *,
        has_case: Container[str] = (),
        order_states: Any = None,
    ) -> Rescored:
        """What follows scoring `order_ids` (every order when None), here and in
        ``triage score-orders``: suggestions for the flagged `scores` under the policy (none for
        an order with a case in the database or in `has_case`), and the open suggestions of
        those orders that are no longer open closed. `order_states(ids)` gives their states
        (default: from the stored orders as of `now`)."""
        self.orders.save_risks(scores, scorer.version)
        flagged = [s for s in scores if s.flagged]
        with_case = self.cases.for_orders(s.order_id for s in flagged) | set(has_case)
        done = settle(
            self.policy(scorer),
            flagged,
            self.suggestions,
            order_ids=order_ids,
            order_states=order_states or (lambda ids: self._states(ids, now)),
            has_case=with_case,
            now=now,
        )
        return Rescored(done.made, done.closed, len(scores), len(flagged))

    def _states(self, order_ids: Iterable[str], now: dt.datetime) -> dict[str, str]:
        """The states of these stored orders at `now` (triage.orders.risk.scoring.order_states)."""
        orders, events = self.orders.tables_of(order_ids)
        return states_of(orders, events, now)

    def close_settled(self, order_ids: Iterable[str] | None, now: dt.datetime) -> list[Suggestion]:
        """Close the open suggestions of these orders (all when None) that are no longer open
        at `now`: ``resolved`` when delivered or canceled, ``expired`` when over 30 days past
        the promise. Returns the suggestions closed."""
        return close_settled(self.suggestions, order_ids, lambda ids: self._states(ids, now), now)

    # -- decisions --------------------------------------------------------------------
    def accept(
        self,
        router: Any,
        suggestion_id: str,
        *,
        text: str | None = None,
        language: str | None = None,
        key_id: str | None = None,
        now: dt.datetime | None = None,
    ) -> tuple[Suggestion, CaseRecord, Any]:
        """Open the case of a suggestion: its draft in `language` (zh by default), or the
        filer's edited `text`; categorized by `router` (a CaseRouter). Returns the accepted
        suggestion, the case and the case model's prediction.

        `NotFoundError` for an unknown suggestion, `ConflictError` for a decided one.
        """
        now = now or utcnow()
        case_id = f"case_{uuid.uuid4().hex[:16]}"
        # decided here (refused before the text is categorized); saved with the case below
        current = decide(
            self.suggestions.get(suggestion_id), suggestion_id, "accepted", now, case_id
        )
        if text is None:
            language = language or "zh"
            if language not in DRAFT_LANGUAGES:
                raise InputError(
                    f"language: the drafts are in zh and en, not {language!r}; "
                    "send the edited text to file the case in another language"
                )
            text = current.draft_zh if language == "zh" else current.draft_en
        elif not text.strip():
            raise InputError("text: empty; leave it out to file the draft")
        [done] = categorize(
            router, [CaseText(text, language, order_id=current.order_id)], key_id=key_id, now=now
        )
        prediction = done.prediction
        case = CaseRecord.categorized(
            done,
            order_id=current.order_id,
            text=text,
            now=now,
            origin="suggestion",
            category=current.category,
            case_id=case_id,
            language=language,
            suggestion_id=suggestion_id,
            key_id=key_id,
        )
        accepted = self.suggestions.accept(suggestion_id, case, done.record)
        return accepted, case, prediction

    def dismiss(self, suggestion_id: str, now: dt.datetime | None = None) -> Suggestion:
        """Dismiss an open suggestion; the order's cooldown starts now."""
        return decide_stored(self.suggestions, suggestion_id, "dismissed", now)

    # -- demo -------------------------------------------------------------------------
    def load_demo(self, scorer: RiskScorer, now: dt.datetime | None = None) -> DemoLoad | None:
        """Load a day of simulated open orders (`demo_open_orders`) and suggest cases for them,
        when the database has no orders yet (None otherwise: later starts change nothing).

        The simulated times move by whole days so that the simulation's last moment falls on
        today's midnight (UTC): the orders are open now, and events sent for them later are
        scored as of the real time.
        """
        if self.orders.count():
            return None
        now = now or utcnow()
        orders, events, shift = move_to_day(*demo_open_orders(), now)
        self.orders.save(orders, events, now)
        done = self.rescore(scorer, None, now)
        return DemoLoad(len(orders), len(events), shift.days, done.scored, done.flagged, done.made)


def ensure_demo_orders(settings: Settings) -> DemoLoad | None:
    """`OrderService.load_demo` on the service database of `settings`, scored by the
    registry's champion risk model (``triage bootstrap --demo-orders``, run by `make run`).
    None when the database has orders already."""
    store = Store.from_settings(settings)
    try:
        store.migrate()
        cooldown = dt.timedelta(days=settings.suggestion_cooldown_days)
        service = OrderService(store, cooldown=cooldown)
        if service.orders.count():  # before loading the model: later starts stay fast
            return None
        return service.load_demo(RiskScorer.from_registry(Registry(settings.models_dir)))
    finally:
        store.dispose()
