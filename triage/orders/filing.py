"""Cases filed for stored orders: which order a case names, what the service knows about it,
and one order, one case.

    >>> named, contexts = named_contexts(service, ["where is SIM0000042??"], [None], now)
    >>> named                                        # {0: "SIM0000042"}; contexts: OrderContext by id
    >>> case, created = file_case(service, case_record)                  # linked, not doubled

The rules of `file_case`, in one transaction:

- the order has an open case: nothing new is stored; the filer's text joins that case's story
  (the caller answers with the open case, ``created: false``);
- the order has an open suggestion: it is accepted by this case (the same case: the
  suggestion's ``case_id`` is this case, the case's ``suggestion_id`` that suggestion);
- otherwise a new case, origin ``filed``.

Two workers filing for the same order at once cannot both store a case: the partial unique
index on open cases refuses the second, which then answers with the first one's case. An order
with an open case gets no new suggestion (`OrderService.settle` asks `CaseStore.for_orders`).
"""

from __future__ import annotations

import datetime as dt
import itertools
import re
from collections.abc import Container, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc

from triage.cases.store import CaseRecord, CaseStore
from triage.config import Settings
from triage.errors import ConflictError
from triage.orders.context import OrderContext, order_state, parse_time
from triage.orders.storage import CHUNK
from triage.orders.suggestions.lifecycle import OPEN
from triage.store_tables import cases as cases_table
from triage.store_tables import order_risks, tracking_events
from triage.store_tables import orders as orders_table
from triage.store_tables import suggestions as suggestions_table

if TYPE_CHECKING:
    from triage.cases.intake import Categorized
    from triage.orders.service import OrderService

__all__ = [
    "OPEN_STATES",
    "candidates",
    "file_case",
    "filed_case",
    "linked_contexts",
    "named_contexts",
    "order_contexts",
]

#: order statuses (OrderContext.status) whose risk is scored: the order is still on its way
OPEN_STATES = ("not_shipped", "in_transit")
# a word with a digit that could be an order id of any shape ("SIM0000042", "A1B2C3", "#77812")
_CANDIDATE = re.compile(r"(?<![\w-])([A-Za-z0-9][A-Za-z0-9_-]{3,63})(?![\w-])")


_o, _e, _r, _s, _c = (
    orders_table.c,
    tracking_events.c,
    order_risks.c,
    suggestions_table.c,
    cases_table.c,
)
_newest = suggestions_table.alias("newest")
_LATEST_SUGGESTION = (
    sa.select(_newest.c.id)
    .where(_newest.c.order_id == _o.order_id)
    .order_by(_newest.c.created_at.desc(), _newest.c.id.desc())
    .limit(1)
    .correlate(orders_table)
    .scalar_subquery()
)
# What `order_contexts` reads, in one statement (one round trip): per order one row per tracking
# event (one row with NULL event columns when it has none), each carrying the order's fields,
# its latest risk, its latest suggestion and its open case (one at most: a unique index).
_READ_ANY = (
    sa.select(
        _o.order_id,
        _o.purchased_at,
        _o.promised_date,
        _o.delivered_at,
        _o.canceled,
        _e.time,
        _e.event_type,
        _e.location,
        _r.p_late,
        _r.flagged,
        _r.model_version,
        _r.as_of,
        _s.id.label("suggestion_id"),
        _s.status.label("suggestion_status"),
        _c.id.label("case_id"),
        _c.status.label("case_status"),
        _c.origin.label("case_origin"),
    )
    .select_from(orders_table)
    .outerjoin(tracking_events, _e.order_id == _o.order_id)
    .outerjoin(order_risks, _r.order_id == _o.order_id)
    .outerjoin(suggestions_table, _s.id == _LATEST_SUGGESTION)
    .outerjoin(cases_table, sa.and_(_c.order_id == _o.order_id, _c.status == "open"))
    .order_by(_o.order_id, _e.time, _e.id)
)
_READ = _READ_ANY.where(_o.order_id.in_(sa.bindparam("ids", expanding=True)))
# the usual case names one order: an equality, which spares the per-call expansion of IN (...)
_READ_ONE = _READ_ANY.where(_o.order_id == sa.bindparam("id"))


def candidates(text: str) -> list[str]:
    """Words of `text` that could be order ids (a digit among 4 to 64 letters, digits, - or
    _), in the order they appear, each once."""
    found = [m.group(1) for m in _CANDIDATE.finditer(text) if any(c.isdigit() for c in m.group(1))]
    return list(dict.fromkeys(found))


def _wanted(texts: Sequence[str], given: Sequence[str | None]) -> list[list[str]]:
    """Per case, the ids it may name: its given order id, else the candidates of its text."""
    return [[o] if o else candidates(t) for t, o in zip(texts, given, strict=True)]


def _named(wanted: list[list[str]], known: Container[str]) -> dict[int, str]:
    """Per case (by position), the first of its wanted ids that is `known`."""
    return {
        i: next(c for c in found if c in known)
        for i, found in enumerate(wanted)
        if any(c in known for c in found)
    }


def named_contexts(
    service: OrderService, texts: Sequence[str], given: Sequence[str | None], now: dt.datetime
) -> tuple[dict[int, str], dict[str, OrderContext]]:
    """The stored order each case names, by the case's position (its `given` order id when
    that order is stored, else the first word of its text that is a stored order's id; cases
    naming no stored order are left out: an unknown id is not an error), and `order_contexts`
    of those orders, in one read."""
    wanted = _wanted(texts, given)
    every = {c for found in wanted for c in found}
    contexts = order_contexts(service, every, now) if every else {}
    named = _named(wanted, contexts)
    used = set(named.values())
    return named, {k: v for k, v in contexts.items() if k in used}


def order_contexts(
    service: OrderService, order_ids: Iterable[str], now: dt.datetime
) -> dict[str, OrderContext]:
    """What the service knows about these stored orders at `now`: state, tracking, lateness,
    the latest risk (for an order still on its way; as of its last scoring), the latest
    suggestion and the open case. Unknown ids are left out."""
    wanted = sorted(set(order_ids))
    rows: list[sa.Row] = []
    with service.orders.store.transaction() as conn:  # one read: one statement per CHUNK ids
        if len(wanted) == 1:
            rows = conn.execute(_READ_ONE, {"id": wanted[0]}).all()
        else:
            for start in range(0, len(wanted), CHUNK):
                rows += conn.execute(_READ, {"ids": wanted[start : start + CHUNK]}).all()
    contexts: dict[str, OrderContext] = {}
    for order_id, group in itertools.groupby(rows, key=lambda row: row.order_id):
        found = list(group)
        first = found[0]
        events = [
            {"time": r.time, "event_type": r.event_type, "location": r.location}
            for r in found
            if r.time is not None
        ]
        order = first._asdict()
        context = OrderContext.build(order, order_state(order, events, now))
        if first.p_late is not None and context.status in OPEN_STATES:
            context.risk = {
                "p_late": round(float(first.p_late), 4),
                "flagged": bool(first.flagged),
                "model_version": str(first.model_version),
                "as_of": first.as_of.isoformat(),
            }
        if first.suggestion_id is not None:
            context.suggestion = {"id": first.suggestion_id, "status": first.suggestion_status}
        if first.case_id is not None:
            context.case = {
                "id": first.case_id,
                "status": first.case_status,
                "origin": first.case_origin,
            }
        contexts[order_id] = context
    return contexts


def filed_case(
    order_id: str, text: str, done: Categorized, now: dt.datetime, role: str | None = None
) -> CaseRecord:
    """The case a filer files for `order_id` with `text`, categorized as `done` (intake's
    `Categorized`: the prediction and its log record)."""
    return CaseRecord.categorized(
        done, order_id=order_id, text=text, now=now, origin="filed", filer_role=role
    )


def file_case(service: OrderService, case: CaseRecord) -> tuple[CaseRecord, bool]:
    """Store `case` (origin filed) for its order under the rules of the module; returns the
    order's case (this one, or the open one it joined) and whether it was stored now."""
    store = service.cases.store
    for _ in range(2):  # a second pass only when another worker filed at the same moment
        try:
            with store.transaction(write=True) as conn:
                existing = CaseStore.open_case(conn, case.order_id)
                if existing is not None:
                    return existing, False
                suggestion_id = conn.execute(
                    sa.select(suggestions_table.c.id).where(
                        suggestions_table.c.order_id == case.order_id,
                        suggestions_table.c.status == OPEN,
                    )
                ).scalar_one_or_none()
                if suggestion_id is not None:
                    conn.execute(
                        suggestions_table.update()
                        .where(
                            suggestions_table.c.id == suggestion_id,
                            suggestions_table.c.status == OPEN,
                        )
                        .values(status="accepted", decided_at=case.created_at, case_id=case.id)
                    )
                    case = replace(case, suggestion_id=suggestion_id)
                CaseStore.insert(conn, case)
                return case, True
        except exc.IntegrityError:
            continue
    with store.transaction() as conn:
        existing = CaseStore.open_case(conn, case.order_id)
    if existing is None:  # the index refused the case, yet no open case exists: say so
        raise ConflictError(f"the case for order {case.order_id} was refused; try again")
    return existing, False


def linked_contexts(
    settings: Settings,
    source: str,
    events_path: str | Path | None,
    texts: Sequence[str],
    given: Sequence[str | None],
    as_of: str | None,
) -> list[OrderContext | None]:
    """For ``triage predict cases --orders``: each case's order context (None: it names no
    known order), from an orders file (`source`, with `events_path`) or the service database
    (`source` "db"), at `as_of` (default now, or the latest moment an orders file knows)."""
    import pandas as pd

    from triage.orders.context import contexts_from_tables
    from triage.orders.data.files import read_order_tables
    from triage.orders.service import OrderService
    from triage.store import Store

    if source == "db":
        store = Store.from_settings(settings)
        try:
            store.migrate()
            service = OrderService(store)
            now = parse_time(as_of, "--as-of") if as_of else dt.datetime.now(dt.UTC)
            named, contexts = named_contexts(service, texts, given, now)
        finally:
            store.dispose()
    else:
        orders, events = read_order_tables(source, events_path)
        named = _named(_wanted(texts, given), set(orders["order_id"].astype(str)))
        moments = [orders["purchased_at"].max(), orders["delivered_at"].max()]
        if len(events):
            moments.append(events["time"].max())
        latest = max(m for m in moments if not pd.isna(m))
        now = parse_time(as_of if as_of else latest, "--as-of")
        contexts = contexts_from_tables(orders, events, named.values(), now)
    return [contexts.get(named[i]) if i in named else None for i in range(len(texts))]
