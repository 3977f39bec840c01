"""Signed-in sessions of the operator console, in the service database.

    >>> sessions = SessionStore(store, idle=dt.timedelta(minutes=30))   # doctest: +SKIP
    >>> token, session = sessions.open(key_id)      # the token goes in the browser's cookie
    >>> sessions.touch(token)                       # the session, or None (unknown, idle, revoked)

The browser holds a random token (256 bits); the table keeps only its SHA-256, so a copy of the
database opens no session. A session lasts while it is used: one idle for longer than `idle`
is over (and deleted when next seen), as is every session of a key that was revoked since.
Its role is the key's, read on every request. Each session has its own CSRF token, which every
form and htmx request of the console sends back. The ``console_sessions`` table is declared in
triage/store_tables.py (migration 0005); only this module reads or writes it.
"""

from __future__ import annotations

import datetime as dt
import secrets
from dataclasses import dataclass

import sqlalchemy as sa

from triage.keys import hash_token
from triage.store import Store
from triage.store_tables import api_keys, console_sessions, utcnow

__all__ = ["ConsoleSession", "SessionStore"]

#: a session seen again within this long is not written again (saves a write per page view)
TOUCH_EVERY = dt.timedelta(seconds=30)


@dataclass(frozen=True)
class ConsoleSession:
    """A live session: who signed in (key and its role), its CSRF token and language."""

    key_id: str
    role: str
    key_name: str
    csrf_token: str
    language: str | None
    last_seen_at: dt.datetime


class SessionStore:
    """The ``console_sessions`` table: open, find-and-touch, set the language, close."""

    def __init__(self, store: Store, idle: dt.timedelta):
        self.store = store
        self.idle = idle

    def open(self, key_id: str, language: str | None = None) -> tuple[str, ConsoleSession]:
        """A new session of `key_id`: the token for the cookie, and the session."""
        token = secrets.token_urlsafe(32)
        now = utcnow()
        row = {
            "id": hash_token(token),
            "key_id": key_id,
            "csrf_token": secrets.token_urlsafe(32),
            "language": language,
            "created_at": now,
            "last_seen_at": now,
        }
        with self.store.transaction(write=True) as conn:
            conn.execute(console_sessions.insert(), row)
            key = conn.execute(
                sa.select(api_keys.c.role, api_keys.c.name).where(api_keys.c.id == key_id)
            ).one()
        return token, ConsoleSession(key_id, key.role, key.name, row["csrf_token"], language, now)

    def touch(self, token: str, now: dt.datetime | None = None) -> ConsoleSession | None:
        """The session of `token` marked as seen now, or None when there is none: unknown,
        idle too long (deleted) or its key revoked (deleted)."""
        now = now or utcnow()
        session_id = hash_token(token)
        query = (
            sa.select(console_sessions, api_keys.c.role, api_keys.c.name, api_keys.c.revoked_at)
            .join(api_keys, api_keys.c.id == console_sessions.c.key_id)
            .where(console_sessions.c.id == session_id)
        )
        with self.store.transaction() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        if row.revoked_at is not None or now - row.last_seen_at > self.idle:
            self.close(token)
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            with self.store.transaction(write=True) as conn:
                conn.execute(
                    console_sessions.update()
                    .where(console_sessions.c.id == session_id)
                    .values(last_seen_at=now)
                )
        return ConsoleSession(row.key_id, row.role, row.name, row.csrf_token, row.language, now)

    def set_language(self, token: str, language: str) -> None:
        """Remember the session's interface language."""
        with self.store.transaction(write=True) as conn:
            conn.execute(
                console_sessions.update()
                .where(console_sessions.c.id == hash_token(token))
                .values(language=language)
            )

    def close(self, token: str) -> None:
        """End the session (sign-out); nothing happens for an unknown token."""
        with self.store.transaction(write=True) as conn:
            conn.execute(
                console_sessions.delete().where(console_sessions.c.id == hash_token(token))
            )

    def purge(self, now: dt.datetime | None = None) -> int:
        """Delete every session idle for longer than `idle`; how many."""
        cutoff = (now or utcnow()) - self.idle
        with self.store.transaction(write=True) as conn:
            result = conn.execute(
                console_sessions.delete().where(console_sessions.c.last_seen_at < cutoff)
            )
        return result.rowcount or 0
