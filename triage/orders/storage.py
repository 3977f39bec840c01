"""Orders and tracking events in the service database (tables ``orders`` and ``tracking_events``).

>>> orders = OrderStore(Store.from_settings(settings))                      # doctest: +SKIP
>>> orders.save(validate_orders(frame), validate_events(events), now)      # doctest: +SKIP
SavedOrders(orders_new=2, orders_updated=0, events_new=7, events_duplicate=0)
>>> history, events = orders.tables(since=now - dt.timedelta(days=120))    # doctest: +SKIP

Frames going in have been through triage.orders.data.schema (`validate_orders`, `validate_events`);
frames coming out have the same canonical columns and types, ready for `RiskScorer`.

A saved order replaces the stored record of the same id (that is how a delivery time or a
cancellation reaches the database); a tracking event is stored once per (order, time, type), so
sending the same events twice adds nothing. A call to `save` is one transaction: all of it is
stored, or nothing.

Each `save` that changes something takes the next data version (one more than the largest
stored, read under the write lock, so versions follow the order of commits) and stamps it on
the orders it wrote and on the orders whose events it added. `version()` is the latest one and
`changed_since(v)` the orders (with all their events) stamped after `v`: how a worker's history
cache (triage.orders.risk.history_cache) catches up with what other workers stored. Orders are
never deleted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from triage.orders.data.fields import (
    COUNT_COLUMNS,
    EVENT_COLUMNS,
    FLAG_COLUMNS,
    NUMBER_COLUMNS,
    ORDER_COLUMNS,
    TEXT_COLUMNS,
    TIME_COLUMNS,
)
from triage.store import Store
from triage.store_tables import order_risks, tracking_events
from triage.store_tables import orders as orders_table
from triage.store_tables import suggestions as suggestions_table

__all__ = ["OrderStore", "SavedOrders"]

CHUNK = 500  # ids per IN (...) clause: far under every database's limit on parameters
UPDATE_ORDER = orders_table.update().where(orders_table.c.order_id == sa.bindparam("b_order_id"))


@dataclass(frozen=True)
class SavedOrders:
    """What one `OrderStore.save` changed."""

    orders_new: int = 0
    orders_updated: int = 0
    events_new: int = 0
    events_duplicate: int = 0


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), CHUNK):
        yield values[start : start + CHUNK]


def _python(value: Any) -> Any:
    """A cell of a canonical frame as a value the database driver takes (NaT/NaN -> None).
    Times keep microseconds, the databases' precision (a client's nanoseconds are floored)."""
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, pd.Timestamp):
        return value.floor("us").to_pydatetime()
    if isinstance(value, float | np.floating):
        return None if np.isnan(value) else float(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    return value


def _records(frame: pd.DataFrame, columns: Sequence[str]) -> list[dict[str, Any]]:
    values = frame[list(columns)].astype(object).to_numpy()
    return [{c: _python(v) for c, v in zip(columns, row, strict=True)} for row in values]


def _raw(column: sa.Column) -> Any:
    """`column` read without its per-value type conversion: stored times (naive UTC) are
    parsed by pandas in one vectorized pass instead (`_times`), several times faster."""
    if column.name in TIME_COLUMNS or column.name == "time":
        return sa.type_coerce(column, sa.String()).label(column.name)
    return column


def _times(values: pd.Series) -> pd.Series:
    """Stored times (ISO text from SQLite, naive datetimes from other drivers) as aware UTC."""
    return pd.to_datetime(values, utc=True, format="ISO8601").astype("datetime64[ns, UTC]")


def _orders_frame(rows: Iterable[Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=list(ORDER_COLUMNS))
    for column in TIME_COLUMNS:
        frame[column] = _times(frame[column])
    for column in ("order_id", *TEXT_COLUMNS):
        frame[column] = frame[column].astype(object)
    for column in COUNT_COLUMNS:
        frame[column] = frame[column].astype(int)
    for column in NUMBER_COLUMNS:
        frame[column] = frame[column].astype(float)
    for column in FLAG_COLUMNS:
        frame[column] = frame[column].astype(bool)
    return frame


def _events_frame(rows: Iterable[Any]) -> pd.DataFrame:
    frame = pd.DataFrame.from_records([tuple(row) for row in rows], columns=list(EVENT_COLUMNS))
    frame["time"] = _times(frame["time"])
    for column in ("order_id", "event_type", "location"):
        frame[column] = frame[column].astype(object)
    return frame.sort_values(["order_id", "time"], kind="stable").reset_index(drop=True)


# which of a batch's order ids are stored: built once (building it per call costs more than running it)
_IDS = sa.bindparam("ids", expanding=True)
_SELECT_KNOWN = sa.select(orders_table.c.order_id).where(orders_table.c.order_id.in_(_IDS))


class OrderStore:
    """The stored orders and tracking events of the service database."""

    def __init__(self, store: Store):
        self.store = store

    def count(self) -> int:
        """How many orders are stored."""
        with self.store.transaction() as conn:
            return int(
                conn.execute(sa.select(sa.func.count()).select_from(orders_table)).scalar_one()
            )

    def open_by_risk(
        self,
        *,
        limit: int = 50,
        offset: int = 0,
        carrier: str | None = None,
        lane: tuple[str, str] | None = None,
        seller: str | None = None,
    ) -> list[dict[str, Any]]:
        """Stored open orders (neither delivered nor canceled), the riskiest first: the
        order's latest risk (`order_risks`, written whenever the service scores it; None when
        never scored), then the newest purchase first, with its open suggestion if any.
        `lane` is (seller region, buyer region)."""
        risk = order_risks.c.p_late
        query = (
            sa.select(
                orders_table.c.order_id,
                orders_table.c.purchased_at,
                orders_table.c.promised_date,
                orders_table.c.seller_id,
                orders_table.c.seller_region,
                orders_table.c.buyer_region,
                orders_table.c.carrier,
                orders_table.c.service_level,
                risk.label("risk"),
                suggestions_table.c.id.label("suggestion_id"),
                suggestions_table.c.category.label("suggested_category"),
            )
            .select_from(
                orders_table.outerjoin(
                    suggestions_table,
                    sa.and_(
                        suggestions_table.c.order_id == orders_table.c.order_id,
                        suggestions_table.c.status == "open",
                    ),
                ).outerjoin(order_risks, order_risks.c.order_id == orders_table.c.order_id)
            )
            .where(orders_table.c.delivered_at.is_(None), sa.not_(orders_table.c.canceled))
        )
        if carrier is not None:
            query = query.where(orders_table.c.carrier == carrier)
        if lane is not None:
            query = query.where(
                orders_table.c.seller_region == lane[0], orders_table.c.buyer_region == lane[1]
            )
        if seller is not None:
            query = query.where(orders_table.c.seller_id == seller)
        query = query.order_by(
            risk.desc().nulls_last(), orders_table.c.purchased_at.desc(), orders_table.c.order_id
        )
        with self.store.transaction() as conn:
            return [row._asdict() for row in conn.execute(query.limit(limit).offset(offset))]

    def timelines(self, order_ids: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
        """Each of `order_ids`' tracking events, oldest first: time, type and place (every id
        gets a list, empty for an order without events or not stored)."""
        found: dict[str, list[dict[str, Any]]] = {order_id: [] for order_id in order_ids}
        wanted = sorted(found)
        with self.store.transaction() as conn:
            for chunk in _chunks(wanted):
                query = (
                    sa.select(
                        tracking_events.c.order_id,
                        tracking_events.c.time,
                        tracking_events.c.event_type,
                        tracking_events.c.location,
                    )
                    .where(tracking_events.c.order_id.in_(chunk))
                    .order_by(tracking_events.c.order_id, tracking_events.c.time)
                )
                for row in conn.execute(query):
                    found[row.order_id].append(
                        {"time": row.time, "type": row.event_type, "place": row.location}
                    )
        return found

    def open_facets(self) -> dict[str, list[Any]]:
        """The carriers and lanes (seller region, buyer region) of the stored open orders."""
        open_ = sa.and_(orders_table.c.delivered_at.is_(None), sa.not_(orders_table.c.canceled))
        with self.store.transaction() as conn:
            carriers = conn.execute(
                sa.select(orders_table.c.carrier)
                .where(open_)
                .distinct()
                .order_by(orders_table.c.carrier)
            ).scalars()
            carriers = list(carriers)
            lanes = [
                tuple(row)
                for row in conn.execute(
                    sa.select(orders_table.c.seller_region, orders_table.c.buyer_region)
                    .where(open_)
                    .distinct()
                    .order_by(orders_table.c.seller_region, orders_table.c.buyer_region)
                )
            ]
        return {"carriers": carriers, "lanes": lanes}

    def known(self, order_ids: Iterable[str]) -> set[str]:
        """The ids among `order_ids` that are stored."""
        wanted = sorted(set(order_ids))
        with self.store.transaction() as conn:
            return self._known(conn, wanted)

    @staticmethod
    def _known(conn: Connection, wanted: Sequence[str]) -> set[str]:
        found: set[str] = set()
        for chunk in _chunks(wanted):
            found.update(conn.execute(_SELECT_KNOWN, {"ids": list(chunk)}).scalars())
        return found

    def save(
        self,
        orders: pd.DataFrame | None,
        events: pd.DataFrame | None,
        now: dt.datetime,
    ) -> SavedOrders:
        """Store validated orders (replacing stored ones of the same id) and events (skipping
        ones already stored), in one transaction. Every event's order must be stored or be among
        `orders` (the database's foreign key refuses the write otherwise)."""
        orders_new = orders_updated = events_new = events_duplicate = 0
        with self.store.transaction(write=True) as conn:
            version = self._next_version(conn)
            if orders is not None and len(orders):
                rows = _records(orders, ORDER_COLUMNS)
                for row in rows:
                    row["updated_at"] = now
                    row["version"] = version
                stored = self._known(conn, [r["order_id"] for r in rows])
                fresh = [r for r in rows if r["order_id"] not in stored]
                changed = [
                    {**r, "b_order_id": r["order_id"]} for r in rows if r["order_id"] in stored
                ]
                if fresh:
                    conn.execute(orders_table.insert(), fresh)
                if changed:
                    for row in changed:
                        del row["order_id"]
                    conn.execute(UPDATE_ORDER, changed)
                orders_new, orders_updated = len(fresh), len(changed)
            if events is not None and len(events):
                rows = _records(events, EVENT_COLUMNS)
                seen = self._event_keys(conn, sorted({r["order_id"] for r in rows}))
                fresh = []
                for row in rows:
                    key = (row["order_id"], row["time"], row["event_type"])
                    if key not in seen:
                        seen.add(key)
                        fresh.append(row)
                if fresh:
                    conn.execute(tracking_events.insert(), fresh)
                    touched = sorted({r["order_id"] for r in fresh})
                    for chunk in _chunks(touched):
                        conn.execute(
                            orders_table.update()
                            .where(orders_table.c.order_id.in_(chunk))
                            .values(version=version)
                        )
                events_new, events_duplicate = len(fresh), len(rows) - len(fresh)
        return SavedOrders(orders_new, orders_updated, events_new, events_duplicate)

    @staticmethod
    def _next_version(conn: Connection) -> int:
        """One more than the largest stored version. SQLite's write lock (taken at BEGIN) makes
        writers take turns; PostgreSQL gets a table lock that only other writers of orders wait
        for, so two saves never share a version and versions follow the order of commits."""
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("LOCK TABLE orders IN SHARE ROW EXCLUSIVE MODE"))
        latest = conn.execute(sa.select(sa.func.max(orders_table.c.version))).scalar_one()
        return int(latest or 0) + 1

    def version(self) -> int:
        """The latest data version (0 when nothing was stored since migration 0003)."""
        with self.store.transaction() as conn:
            return int(
                conn.execute(sa.select(sa.func.max(orders_table.c.version))).scalar_one() or 0
            )

    @staticmethod
    def _event_keys(conn: Connection, order_ids: Sequence[str]) -> set[tuple]:
        keys: set[tuple] = set()
        columns = (tracking_events.c.order_id, tracking_events.c.time, tracking_events.c.event_type)
        for chunk in _chunks(order_ids):
            query = sa.select(*columns).where(tracking_events.c.order_id.in_(chunk))
            keys.update(tuple(row) for row in conn.execute(query))
        return keys

    def changed_since(self, version: int) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(orders, events) of the orders stamped with a version above `version`, each with
        all its events. Read `version()` before this: then nothing committed in between is
        missed (an order may come twice, which a reader that replaces by id does not mind)."""
        return self._select(orders_table.c.version > version)

    def save_risks(self, scores: Iterable[Any], model_version: str) -> None:
        """Keep each scored order's latest risk (`RiskScore`s: order_id, risk, flagged, as_of);
        orders that are not stored (``triage score-orders`` on files) are left out."""
        rows = [
            {
                "order_id": s.order_id,
                "p_late": float(s.risk),
                "flagged": bool(s.flagged),
                "model_version": model_version,
                "as_of": pd.Timestamp(s.as_of).to_pydatetime(),
            }
            for s in scores
        ]
        if not rows:
            return
        with self.store.transaction(write=True) as conn:
            stored = self._known(conn, sorted({r["order_id"] for r in rows}))
            rows = [r for r in rows if r["order_id"] in stored]
            for chunk in _chunks(sorted(stored)):
                conn.execute(order_risks.delete().where(order_risks.c.order_id.in_(chunk)))
            if rows:
                conn.execute(order_risks.insert(), rows)

    def tables_of(self, order_ids: Iterable[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(orders, events) of the stored orders among `order_ids`."""
        wanted = sorted(set(order_ids))
        if len(wanted) <= CHUNK:
            return self._select(orders_table.c.order_id.in_(wanted))
        orders, events = self._select(sa.true())
        keep = orders["order_id"].isin(wanted)
        return (
            orders[keep].reset_index(drop=True),
            events[events["order_id"].isin(wanted)].reset_index(drop=True),
        )

    def _select(self, condition: Any) -> tuple[pd.DataFrame, pd.DataFrame]:
        with self.store.transaction() as conn:
            order_rows = conn.execute(
                sa.select(*(_raw(orders_table.c[name]) for name in ORDER_COLUMNS)).where(condition)
            ).all()
            event_rows = conn.execute(
                sa.select(*(_raw(tracking_events.c[name]) for name in EVENT_COLUMNS))
                .join(orders_table, orders_table.c.order_id == tracking_events.c.order_id)
                .where(condition)
            ).all()
        return _orders_frame(order_rows), _events_frame(event_rows)

    def tables(
        self, *, since: dt.datetime | None = None, include: Iterable[str] = ()
    ) -> tuple[pd.DataFrame, pd.DataFrame]:
        """(orders, events) of the orders purchased at or after `since` (all orders when None)
        plus the orders named in `include`, in the canonical schema.

        The risk model's seller, lane and platform features come from these orders, so the
        window must reach back far enough for that history (the service uses 120 days).
        """
        include = sorted(set(include))
        condition: Any = sa.true()
        if since is not None:
            condition = orders_table.c.purchased_at >= since
            if include:
                # small batches: the ids go in the query; large ones are filtered in pandas
                if len(include) <= CHUNK:
                    condition = sa.or_(condition, orders_table.c.order_id.in_(include))
                else:
                    condition = sa.true()
        orders, events = self._select(condition)
        if since is not None and include and len(include) > CHUNK:
            stamp = pd.Timestamp(since)
            keep = (orders["purchased_at"] >= stamp) | orders["order_id"].isin(include)
            orders = orders[keep].reset_index(drop=True)
            events = events[events["order_id"].isin(orders["order_id"])].reset_index(drop=True)
        return orders, events
