"""Cases filed for stored orders: which order a case names, what the service knows about it,
and one order, one case.

    >>> found = find_orders(service, ["where is SIM0000042??"], [None])   # {0: "SIM0000042"}
    >>> contexts = order_contexts(service, ["SIM0000042"], scorer, now)  # OrderContext by id
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
import re
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy import exc

from triage.cases.store import CaseRecord, CaseStore
from triage.errors import ConflictError
from triage.orders.context import OrderContext, order_facts
from triage.orders.suggestions.lifecycle import OPEN
from triage.store_tables import suggestions as suggestions_table

if TYPE_CHECKING:
    from triage.orders.risk.scoring import RiskScorer
    from triage.orders.service import OrderService

__all__ = ["OPEN_STATES", "candidates", "file_case", "find_orders", "order_contexts"]

#: order statuses (OrderContext.status) whose risk is scored: the order is still on its way
OPEN_STATES = ("not_shipped", "in_transit")
# a word with a digit that could be an order id of any shape ("SIM0000042", "A1B2C3", "#77812")
_CANDIDATE = re.compile(r"(?<![\w-])([A-Za-z0-9][A-Za-z0-9_-]{3,63})(?![\w-])")


def candidates(text: str) -> list[str]:
    """Words of `text` that could be order ids (a digit among 4 to 64 letters, digits, - or
    _), in the order they appear, each once."""
    found = [m.group(1) for m in _CANDIDATE.finditer(text) if any(c.isdigit() for c in m.group(1))]
    return list(dict.fromkeys(found))


def find_orders(
    service: OrderService, texts: Sequence[str], given: Sequence[str | None]
) -> dict[int, str]:
    """The stored order each case names, by the case's position: its `given` order id when
    that order is stored, else the first word of its text that is a stored order's id. Cases
    naming no stored order are left out (an unknown id is not an error)."""
    wanted: dict[int, list[str]] = {}
    for i, (text, order_id) in enumerate(zip(texts, given, strict=True)):
        wanted[i] = [order_id] if order_id else candidates(text)
    every = {c for found in wanted.values() for c in found}
    known = service.orders.known(every) if every else set()
    return {
        i: next(c for c in found if c in known)
        for i, found in wanted.items()
        if any(c in known for c in found)
    }


def order_contexts(
    service: OrderService,
    order_ids: Iterable[str],
    scorer: RiskScorer | None,
    now: dt.datetime,
) -> dict[str, OrderContext]:
    """What the service knows about these stored orders at `now`: state, tracking, lateness,
    risk (when `scorer` is given and the order is still on its way), the latest suggestion and
    the open case. Unknown ids are left out."""
    wanted = sorted(set(order_ids))
    if not wanted:
        return {}
    found = service.cache.stored(wanted, now) if service.cache is not None else None
    if found is not None:
        orders, events, features = found
    else:
        orders, events = service.orders.tables_of(wanted)
        features = None
    if orders.empty:
        return {}
    facts = order_facts(orders, events, now)
    contexts = {
        str(order["order_id"]): OrderContext.build(order, facts.iloc[i], events)
        for i, order in enumerate(orders.to_dict("records"))
    }
    open_ids = [i for i, c in contexts.items() if c.status in OPEN_STATES]
    if scorer is not None and open_ids:
        _add_risk(service, scorer, contexts, open_ids, now, features, orders, events)
    for order_id, context in contexts.items():
        suggestion = service.suggestions.for_order(order_id)
        if suggestion:
            latest = suggestion[-1]
            context.suggestion = {"id": latest.suggestion_id, "status": latest.status}
    for order_id, case in service.cases.open_cases(contexts).items():
        contexts[order_id].case = {"id": case.id, "status": case.status, "origin": case.origin}
    return contexts


def _add_risk(
    service: OrderService,
    scorer: RiskScorer,
    contexts: dict[str, OrderContext],
    open_ids: list[str],
    now: dt.datetime,
    features: object,
    orders: object,
    events: object,
) -> None:
    if features is None:  # no history cache: the stored history, read again
        orders, events = service.orders.tables(since=now - service.history, include=open_ids)
    frame = scorer.score_frame(orders, events, as_of=now, order_ids=open_ids, features=features)
    for row in frame[["order_id", "risk", "flagged"]].itertuples(index=False):
        contexts[str(row.order_id)].risk = {
            "p_late": round(float(row.risk), 4),
            "flagged": bool(row.flagged),
            "model_version": scorer.version,
            "as_of": now.isoformat(),
        }


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
