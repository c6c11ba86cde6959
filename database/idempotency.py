"""Idempotency keys: the first answer to a (caller, key) is kept 24 hours and given again to every retry.

A key is claimed by inserting its row before the work starts (a concurrent retry loses to the unique
key and hears "in progress"); the answer is stored when the work succeeds; a failed attempt frees
the key so the caller may try again. The same key with another request is a conflict, not a replay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import Session
from sqlalchemy.orm import mapped_column

from database.base import Base
from database.transaction import insert_or_skip
from database.transaction import transaction
from database.types import JSONDocument
from database.types import UTCDateTime

KEPT_FOR = timedelta(hours=24)
# Longer than any request may run (gunicorn's timeout): a key still "in progress" after it was abandoned.
IN_PROGRESS_LEASE = timedelta(minutes=5)
NEW, REPLAY, IN_PROGRESS, MISMATCH = "new", "replay", "in_progress", "mismatch"


class IdempotencyKey(Base):
    """One caller's key, the request it was first used for, and the answer that request got."""

    __tablename__ = "idempotency_keys"

    caller: Mapped[str] = mapped_column(String(64), primary_key=True)
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # sha256 of the method, path and body: the same key with another request is refused.
    fingerprint: Mapped[str] = mapped_column(String(64))
    status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    answer: Mapped[Any] = mapped_column(JSONDocument, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


@dataclass(frozen=True)
class Claim:
    """What a key says about this request: new (go ahead), replay (here is the answer), in progress, mismatch."""

    outcome: str
    status: int | None = None
    answer: Any = None


def claim_key(session: Session, caller: str, key: str, fingerprint: str, now: datetime) -> Claim:
    """Claim the key for this request, or learn what became of its first use."""
    with transaction(session):
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.caller == caller, IdempotencyKey.key == key, IdempotencyKey.created_at <= now - KEPT_FOR
            )
        )
        claimed = session.scalar(
            insert_or_skip(session)(IdempotencyKey)
            .values(caller=caller, key=key, fingerprint=fingerprint, created_at=now)
            .on_conflict_do_nothing()
            .returning(IdempotencyKey.key)
        )
        if claimed is not None:
            return Claim(NEW)
        row = session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.caller == caller, IdempotencyKey.key == key).with_for_update()
        )
        assert row is not None  # the conflicting row is there, and only an expired one is ever deleted
        if row.fingerprint != fingerprint:
            return Claim(MISMATCH)
        if row.status is None and row.created_at > now - IN_PROGRESS_LEASE:
            return Claim(IN_PROGRESS)
        if row.status is None:
            # Its first request died without an answer (a killed worker): this one takes the key over.
            row.created_at = now
            return Claim(NEW)
        return Claim(REPLAY, row.status, row.answer)


def keep_answer(session: Session, caller: str, key: str, status: int, answer: Any) -> None:
    """Store the answer the first use of a key got."""
    with transaction(session):
        row = session.get(IdempotencyKey, (caller, key), with_for_update=True)
        if row is not None:
            row.status = status
            row.answer = answer


def free_key(session: Session, caller: str, key: str) -> None:
    """The attempt failed: the key may be used again."""
    session.rollback()
    with transaction(session):
        session.execute(
            delete(IdempotencyKey).where(
                IdempotencyKey.caller == caller, IdempotencyKey.key == key, IdempotencyKey.status.is_(None)
            )
        )


def forget_old_keys(session: Session, now: datetime) -> int:
    """Drop keys past their 24 hours."""
    with transaction(session):
        result = session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at <= now - KEPT_FOR))
    return int(result.rowcount)  # type: ignore[attr-defined]
