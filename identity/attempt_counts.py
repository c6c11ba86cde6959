"""Attempt counters in the database: the AttemptCounter every worker shares when there is no Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import case
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite

from identity.attempts import AttemptKey
from identity.attempts import Tally
from identity.attempts import key_digest
from identity.models import AttemptCount

# Both dialects upsert atomically: INSERT ... ON CONFLICT DO UPDATE ... RETURNING.
_UPSERTS: dict[str, Callable[..., Any]] = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
# Expired rows removed per counted attempt: each attempt adds at most one row, so the table
# holds the live windows plus a backlog that shrinks with every attempt.
PURGE_BATCH = 100


class DatabaseAttempts:
    """Counters in the `attempt_counts` table, on their own short transactions.

    Call it with no transaction open on the request's session: it takes its own connection, and
    on SQLite a writer holding the lock on another connection would make it wait.
    """

    name = "database"

    def __init__(self, engine: Engine, secret: bytes) -> None:
        self.engine = engine
        self.secret = secret
        self.upsert = _UPSERTS[engine.dialect.name]

    def count(self, key: AttemptKey, *, window: timedelta, now: datetime) -> Tally:
        """Count one attempt in a single statement, so parallel attempts are never lost."""
        ended = AttemptCount.window_ends_at <= now
        statement = self.upsert(AttemptCount).values(
            key=self._key(key), subject=self._subject(key.limit, key.subject), attempts=1, window_ends_at=now + window
        )
        statement = statement.on_conflict_do_update(
            index_elements=[AttemptCount.key],
            set_={
                "attempts": case((ended, 1), else_=AttemptCount.attempts + 1),
                "window_ends_at": case((ended, statement.excluded.window_ends_at), else_=AttemptCount.window_ends_at),
            },
        ).returning(AttemptCount.attempts, AttemptCount.window_ends_at)
        with self.engine.begin() as connection:
            attempts, window_ends_at = connection.execute(statement).one()
        self._purge(now)
        return Tally(attempts, window_ends_at)

    def forgive(self, key: AttemptKey, *, now: datetime) -> None:
        """Take back one attempt of a window still running."""
        with self.engine.begin() as connection:
            connection.execute(
                update(AttemptCount)
                .where(AttemptCount.key == self._key(key), AttemptCount.attempts > 0, AttemptCount.window_ends_at > now)
                .values(attempts=AttemptCount.attempts - 1)
            )

    def clear(self, limit: str, subject: str, source: str | None = None) -> None:
        """Delete the subject's row for one source, or its rows for every source."""
        if source is None:
            condition = AttemptCount.subject == self._subject(limit, subject)
        else:
            condition = AttemptCount.key == self._key(AttemptKey(limit, subject, source))
        with self.engine.begin() as connection:
            connection.execute(delete(AttemptCount).where(condition))

    def _purge(self, now: datetime) -> None:
        """Remove a batch of rows whose window has ended, skipping rows another worker holds."""
        # Its own transaction, after the count's: a transaction holding one counter row never
        # waits for another, so purging cannot deadlock with counting.
        expired = (
            select(AttemptCount.key)
            .where(AttemptCount.window_ends_at <= now)
            .limit(PURGE_BATCH)
            .with_for_update(skip_locked=True)
        )
        with self.engine.begin() as connection:
            connection.execute(delete(AttemptCount).where(AttemptCount.key.in_(expired.scalar_subquery())))

    def _key(self, key: AttemptKey) -> str:
        return key_digest(self.secret, key.limit, key.subject, key.source)

    def _subject(self, limit: str, subject: str) -> str:
        return key_digest(self.secret, limit, subject)
