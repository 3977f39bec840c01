"""Database access: the prediction log, analysts' feedback, API keys and their rate counters.

    >>> store = Store.from_settings(Settings.from_env())   # doctest: +SKIP
    >>> store.migrate()                                     # doctest: +SKIP

SQLAlchemy 2 Core. The default database is an SQLite file under `Settings.data_dir`, opened in
WAL mode so that readers never wait for the single writer; any SQLAlchemy URL (PostgreSQL) works
through `Settings.database_url`. The schema is created and upgraded by Alembic with the
migration scripts shipped inside the package (triage/migrations/), so an installed service can
migrate itself: `Store.migrate()`, run by `triage serve` before the workers start and by the
application factory when the schema is behind.

Every write is one transaction: a batch of predictions is logged completely or not at all.
Database failures surface as `StoreError`. Times are timezone-aware UTC; ids are strings.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import fcntl
import functools
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import StaticPool

from triage.config import Settings
from triage.errors import InputError, StoreError
from triage.keys import IssuedToken, issue_token, validate_role, verify_token
from triage.store_tables import (
    DROP_OLD_WINDOWS,
    INSERT_PREDICTIONS,
    SELECT_KEY,
    api_key_usage,
    api_keys,
    feedback,
    metadata,
    predictions,
    upsert_count,
    utcnow,
)

__all__ = ["KeyRecord", "PredictionRecord", "Store", "metadata", "utcnow"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


#: how long a statement waits for a lock another connection holds (SQLite's busy timeout,
#: PostgreSQL's lock_timeout) before it fails
LOCK_TIMEOUT_MS = 10_000
#: the states `Store.review_queue` filters on
REVIEW_STATES = ("all", "pending", "reviewed")


@functools.cache
def _shipped_head() -> str | None:
    """The head revision of the migrations shipped with this code: read once per process (Alembic
    imports every migration script to find it; each app, store and test asked again)."""
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(config).get_current_head()


@dataclass(frozen=True)
class PredictionRecord:
    """One row of the prediction log; `text` must already be redacted."""

    id: str
    created_at: dt.datetime
    text: str
    language: str
    category: str
    confidence: float
    needs_review: bool
    model_name: str
    model_version: str
    filer_role: str | None = None
    order_id: str | None = None
    key_id: str | None = None
    request_id: str | None = None


@dataclass(frozen=True)
class KeyRecord:
    """An API key as stored: never the token itself."""

    id: str
    name: str
    role: str
    token_hash: str
    created_at: dt.datetime
    revoked_at: dt.datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None

    def public(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at.isoformat(),
            "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
        }


def _sqlite_file(url: sa.URL) -> Path | None:
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    return Path(url.database)


def _configure_sqlite(engine: Engine) -> None:
    """WAL, a busy timeout, foreign keys, and BEGIN handled by us (pysqlite's is too late)."""

    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves, see _begin
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {LOCK_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        if _sqlite_file(engine.url) is not None:
            cursor.execute("PRAGMA journal_mode = WAL")
            cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writer takes the write lock at BEGIN, so that it waits (busy_timeout) instead of
        # failing when it upgrades a read lock while another process writes.
        immediate = connection.get_execution_options().get("triage_write", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


class Store:
    """The service's database. Create with `Store.from_settings` or `Store(url)`."""

    def __init__(self, url: str, *, echo: bool = False):
        try:
            parsed = sa.make_url(url)
        except exc.ArgumentError as error:
            raise StoreError(f"invalid database URL: {error}") from None
        self.url = parsed
        self._upsert: Any = None
        # hide_parameters: an error message never quotes stored values (texts, key hashes)
        options: dict[str, Any] = {"echo": echo, "future": True, "hide_parameters": True}
        if parsed.get_backend_name() == "sqlite":
            path = _sqlite_file(parsed)
            if path is None:
                options.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
            else:
                try:
                    path.parent.mkdir(parents=True, exist_ok=True)
                except OSError as error:
                    raise StoreError(
                        f"cannot create the database folder {path.parent}: {error.strerror}"
                    ) from None
        else:
            options["pool_pre_ping"] = True
            if parsed.get_backend_name() == "postgresql" and "options" not in parsed.query:
                # as SQLite's busy timeout: a statement waits at most 10 s for a lock held by
                # another session (a long migration, a VACUUM FULL), then fails (503), instead
                # of holding its request and its worker for as long as the lock lasts
                options["connect_args"] = {"options": f"-c lock_timeout={LOCK_TIMEOUT_MS}"}
        try:
            self.engine = sa.create_engine(parsed, **options)
        except (exc.ArgumentError, ImportError) as error:
            raise StoreError(f"cannot open database {parsed.render_as_string()}: {error}") from None
        if parsed.get_backend_name() == "sqlite":
            _configure_sqlite(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        return cls(settings.effective_database_url)

    def dispose(self) -> None:
        """Close pooled connections (call after a fork, and at shutdown)."""
        self.engine.dispose()

    # -- transactions --------------------------------------------------------------------
    @contextlib.contextmanager
    def _transaction(self, write: bool = False) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                if write:
                    conn = conn.execution_options(triage_write=True)
                with conn.begin():
                    yield conn
        except exc.SQLAlchemyError as error:
            reason = str(getattr(error, "orig", None) or error).splitlines()[0]
            raise StoreError(f"database unavailable: {reason}") from None

    def transaction(self, write: bool = False) -> contextlib.AbstractContextManager[Connection]:
        """One transaction for modules that keep their own tables (triage.orders.storage,
        triage.orders.suggestion_store): committed when the block ends, rolled back when it
        raises; database failures become `StoreError`. `write` takes SQLite's write lock at
        BEGIN, so that concurrent writers wait instead of failing."""
        return self._transaction(write)

    def ping(self) -> None:
        """Raise `StoreError` unless the database answers."""
        with self._transaction() as conn:
            conn.execute(sa.text("SELECT 1"))

    # -- schema --------------------------------------------------------------------------
    def _alembic_config(self, connection: Connection) -> Any:
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS))
        config.attributes["connection"] = connection
        return config

    def head_revision(self) -> str | None:
        """The newest schema revision shipped with this code."""
        return _shipped_head()

    def current_revision(self) -> str | None:
        """The schema revision of the database (None when it has no schema yet)."""
        from alembic.runtime.migration import MigrationContext

        with self._transaction() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def is_current(self) -> bool:
        return self.current_revision() == self.head_revision()

    @contextlib.contextmanager
    def _migration_lock(self) -> Iterator[None]:
        path = _sqlite_file(self.url)
        if path is None:  # other databases: Alembic's transactional DDL
            yield
            return
        with (path.parent / f".{path.name}.migrate.lock").open("a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def migrate(self) -> str | None:
        """Create or upgrade the schema to the newest revision; returns that revision."""
        from alembic import command

        if self.is_current():
            return self.head_revision()
        with self._migration_lock():
            try:
                with self.engine.connect() as conn:
                    command.upgrade(self._alembic_config(conn), "head")
                    conn.commit()
            except exc.SQLAlchemyError as error:
                reason = str(getattr(error, "orig", None) or error).splitlines()[0]
                raise StoreError(f"cannot migrate the database: {reason}") from None
        return self.head_revision()

    # -- prediction log ------------------------------------------------------------------
    def log_predictions(self, records: Sequence[PredictionRecord]) -> None:
        """Insert every record in one transaction: all of them are stored, or none."""
        if not records:
            return
        rows = [record.__dict__ for record in records]
        with self._transaction(write=True) as conn:
            conn.execute(INSERT_PREDICTIONS, rows)

    def get_prediction(self, prediction_id: str) -> dict[str, Any] | None:
        """A logged prediction with its feedback (oldest first), or None."""
        with self._transaction() as conn:
            row = conn.execute(
                sa.select(predictions).where(predictions.c.id == prediction_id)
            ).first()
            if row is None:
                return None
            notes = conn.execute(
                sa.select(feedback)
                .where(feedback.c.prediction_id == prediction_id)
                .order_by(feedback.c.created_at, feedback.c.id)
            ).all()
        return {**row._asdict(), "feedback": [n._asdict() for n in notes]}

    def list_predictions(
        self, *, limit: int = 100, before: dt.datetime | None = None
    ) -> list[dict[str, Any]]:
        """The newest logged predictions first, optionally only those before a time."""
        query = sa.select(predictions).order_by(
            predictions.c.created_at.desc(), predictions.c.id.desc()
        )
        if before is not None:
            query = query.where(predictions.c.created_at < before)
        with self._transaction() as conn:
            return [row._asdict() for row in conn.execute(query.limit(limit))]

    def prediction_profile(self, since: dt.datetime) -> list[tuple]:
        """(created_at, category, language, confidence) of every prediction since `since`.

        Only the four columns drift monitoring needs, oldest first: no texts leave the database.
        `created_at` comes as stored, naive UTC (ISO text from SQLite, a datetime from other
        drivers), for pandas to parse in one pass (`pd.to_datetime(..., utc=True,
        format="ISO8601")`): converting 100,000 of them one by one took most of a second.
        """
        query = (
            sa.select(
                sa.type_coerce(predictions.c.created_at, sa.String()).label("created_at"),
                predictions.c.category,
                predictions.c.language,
                predictions.c.confidence,
            )
            .where(predictions.c.created_at >= since)
            .order_by(predictions.c.created_at)
        )
        with self._transaction() as conn:
            return [tuple(row) for row in conn.execute(query)]

    def review_queue(
        self,
        *,
        limit: int = 50,
        before: tuple[dt.datetime, str] | None = None,
        category: str | None = None,
        language: str | None = None,
        since: dt.datetime | None = None,
        state: str = "all",
    ) -> list[dict[str, Any]]:
        """Predictions that need review or were corrected, newest first, each with its latest
        correction (``corrected``: a category, or None). `state` is ``pending`` (needs review,
        not corrected yet), ``reviewed`` (corrected or confirmed) or ``all``; `before` is the
        (created_at, id) of the last row of the previous page."""
        if state not in REVIEW_STATES:
            raise InputError(f"state: must be one of {', '.join(REVIEW_STATES)}")
        reviewed = sa.exists().where(feedback.c.prediction_id == predictions.c.id)
        latest = (
            sa.select(feedback.c.category)
            .where(feedback.c.prediction_id == predictions.c.id)
            .order_by(feedback.c.created_at.desc(), feedback.c.id.desc())
            .limit(1)
            .scalar_subquery()
        )
        condition = {
            "all": sa.or_(predictions.c.needs_review, reviewed),
            "pending": sa.and_(predictions.c.needs_review, ~reviewed),
            "reviewed": reviewed,
        }[state]
        query = sa.select(predictions, latest.label("corrected")).where(condition)
        if category is not None:
            query = query.where(predictions.c.category == category)
        if language is not None:
            query = query.where(predictions.c.language == language)
        if since is not None:
            query = query.where(predictions.c.created_at >= since)
        if before is not None:
            at, last_id = before
            query = query.where(
                sa.or_(
                    predictions.c.created_at < at,
                    sa.and_(predictions.c.created_at == at, predictions.c.id < last_id),
                )
            )
        query = query.order_by(predictions.c.created_at.desc(), predictions.c.id.desc())
        with self._transaction() as conn:
            return [row._asdict() for row in conn.execute(query.limit(limit))]

    # -- feedback ------------------------------------------------------------------------
    def add_feedback(
        self, prediction_id: str, category: str, note: str | None, key_id: str | None = None
    ) -> dict[str, Any] | None:
        """Record a correction; None when the prediction does not exist (nothing is written)."""
        row = {
            "id": str(uuid.uuid4()),
            "prediction_id": prediction_id,
            "category": category,
            "note": note,
            "key_id": key_id,
            "created_at": utcnow(),
        }
        with self._transaction(write=True) as conn:
            predicted = conn.execute(
                sa.select(predictions.c.category).where(predictions.c.id == prediction_id)
            ).scalar_one_or_none()
            if predicted is None:
                return None
            conn.execute(feedback.insert(), row)
        return {**row, "predicted_category": predicted}

    def corrections(self) -> list[dict[str, Any]]:
        """Every correction with the logged (redacted) text and prediction, oldest first."""
        query = (
            sa.select(
                feedback.c.id,
                feedback.c.prediction_id,
                feedback.c.category,
                feedback.c.note,
                feedback.c.created_at,
                predictions.c.text,
                predictions.c.language,
                predictions.c.category.label("predicted_category"),
                predictions.c.model_version,
            )
            .join(predictions, feedback.c.prediction_id == predictions.c.id)
            .order_by(feedback.c.created_at, feedback.c.id)
        )
        with self._transaction() as conn:
            return [row._asdict() for row in conn.execute(query)]

    # -- API keys ------------------------------------------------------------------------
    def create_key(self, role: str, name: str = "") -> tuple[KeyRecord, str]:
        """A new key of `role`; returns its record and the token (shown once, never stored)."""
        validate_role(role)
        issued: IssuedToken = issue_token()
        record = KeyRecord(
            id=issued.key_id,
            name=(name or f"{role} key").strip()[:100],
            role=role,
            token_hash=issued.token_hash,
            created_at=utcnow(),
            revoked_at=None,
        )
        with self._transaction(write=True) as conn:
            conn.execute(api_keys.insert(), record.__dict__)
        return record, issued.token

    def get_key(self, key_id: str) -> KeyRecord | None:
        with self._transaction() as conn:
            row = conn.execute(sa.select(api_keys).where(api_keys.c.id == key_id)).first()
        return KeyRecord(**row._asdict()) if row else None

    def authenticate(self, key_id: str, token: str) -> KeyRecord | None:
        """The active key that `token` belongs to, or None; the hash is compared in constant time."""
        record = self.get_key(key_id)
        if record is None or not record.active or not verify_token(token, record.token_hash):
            return None
        return record

    def list_keys(self) -> list[KeyRecord]:
        with self._transaction() as conn:
            rows = conn.execute(sa.select(api_keys).order_by(api_keys.c.created_at)).all()
        return [KeyRecord(**row._asdict()) for row in rows]

    def revoke_key(self, key_id: str) -> bool:
        """Revoke an active key; False when there is no such active key."""
        with self._transaction(write=True) as conn:
            result = conn.execute(
                api_keys.update()
                .where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
        return result.rowcount == 1

    def has_active_key(self, role: str | None = None) -> bool:
        query = (
            sa.select(sa.func.count()).select_from(api_keys).where(api_keys.c.revoked_at.is_(None))
        )
        if role is not None:
            query = query.where(api_keys.c.role == role)
        with self._transaction() as conn:
            return bool(conn.execute(query).scalar_one())

    def count_request(self, key_id: str, window_start: int) -> int:
        """Count one request of `key_id` in the window starting at `window_start` (epoch
        seconds); returns the window's count so far. Older windows of the key are dropped."""
        with self._transaction(write=True) as conn:
            return self._count(conn, key_id, window_start)

    def authenticate_and_count(
        self, key_id: str, token: str, window_start: int | None
    ) -> tuple[KeyRecord | None, int]:
        """`authenticate` and, for a valid key, `count_request` in one transaction: the
        request path of the service pays for one database round trip, not two."""
        with self._transaction(write=window_start is not None) as conn:
            row = conn.execute(SELECT_KEY, {"key_id": key_id}).first()
            record = KeyRecord(**row._asdict()) if row else None
            if record is None or not record.active or not verify_token(token, record.token_hash):
                return None, 0
            if window_start is None:
                return record, 0
            return record, self._count(conn, key_id, window_start)

    def _count(self, conn: Connection, key_id: str, window_start: int) -> int:
        dialect = conn.dialect.name
        if dialect in ("sqlite", "postgresql"):
            if self._upsert is None:
                self._upsert = upsert_count(dialect)
            params = {"key_id": key_id, "window_start": window_start}
            count = conn.execute(self._upsert, params).scalar_one()
        else:  # portable: update, else insert
            updated = conn.execute(
                api_key_usage.update()
                .where(
                    api_key_usage.c.key_id == key_id,
                    api_key_usage.c.window_start == window_start,
                )
                .values(count=api_key_usage.c.count + 1)
            )
            if updated.rowcount == 0:
                conn.execute(
                    api_key_usage.insert(),
                    {"key_id": key_id, "window_start": window_start, "count": 1},
                )
            count = conn.execute(
                sa.select(api_key_usage.c.count).where(
                    api_key_usage.c.key_id == key_id,
                    api_key_usage.c.window_start == window_start,
                )
            ).scalar_one()
        if count == 1:  # a new window: the key's older ones are done with
            conn.execute(DROP_OLD_WINDOWS, {"key_id": key_id, "window_start": window_start})
        return count
