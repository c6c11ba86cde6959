"""Carrying out outbox tasks: claimed under a lease, done once, retried with backoff when they fail.

A task is claimed by moving its due time past a lease in a short transaction (SKIP LOCKED on
PostgreSQL, so many machines sweep at once without waiting on each other; SQLite's write lock
serialises them), then carried out with no transaction open, then marked done. A worker that dies
mid-task leaves it due again when the lease ends.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from datetime import datetime
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import OutboxTask
from database import transaction
from database.transaction import built_once
from errors import DomainError

log = logging.getLogger("citytiles.outbox")
LEASE = timedelta(minutes=2)
# Waits after each failed try; the last repeats.
BACKOFF = (timedelta(seconds=10), timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10))

# Passes over the due tasks per run: a task's handler may write the next one (a booking writes its notice).
PASSES = 5
Handler = Callable[[Session, str], None]
CRASHED = "outbox.crashed"


def enqueue(session: Session, kind: str, ref: str, now: datetime) -> None:
    """Write a task in the caller's transaction; the same kind and ref twice is one task."""
    session.execute(_new_task(session), {"kind": kind, "ref": ref, "due_at": now, "attempts": 0, "created_at": now})


@built_once
def _new_task(insert_or_skip: Any) -> Any:
    tasks = OutboxTask.__table__
    return insert_or_skip(tasks).on_conflict_do_nothing(index_elements=[tasks.c.kind, tasks.c.ref])


def claim(
    session: Session, now: datetime, *, task_id: int | None = None, limit: int = 20
) -> list[tuple[int, str, str]]:
    """Due tasks (or the one named) taken for a lease: (id, kind, ref) each."""
    query = select(OutboxTask).where(OutboxTask.done_at.is_(None), OutboxTask.due_at <= now)
    if task_id is not None:
        query = query.where(OutboxTask.id == task_id)
    with transaction(session):
        rows = session.scalars(query.order_by(OutboxTask.due_at).limit(limit).with_for_update(skip_locked=True)).all()
        for row in rows:
            row.due_at = now + LEASE
            row.attempts += 1
        return [(row.id, row.kind, row.ref) for row in rows]


def carry_out(
    session: Session, handlers: Mapping[str, Handler], clock: Callable[[], datetime], *, task_id: int | None = None
) -> int:
    """Claim and carry out due tasks (or the one named), and the tasks they wrote; how many were done."""
    done = 0
    for _ in range(PASSES):
        claimed = claim(session, clock(), task_id=task_id)
        for claimed_id, kind, ref in claimed:
            done += _carry_out_one(session, handlers, clock, claimed_id, kind, ref)
        if not claimed or task_id is not None:
            break
    return done


def _carry_out_one(
    session: Session, handlers: Mapping[str, Handler], clock: Callable[[], datetime], task_id: int, kind: str, ref: str
) -> int:
    handler = handlers.get(kind)
    if handler is None:
        # A task this build cannot carry out (e.g. written by a newer one): keep it for one that can.
        log.error("no handler for an outbox task", extra={"kind": kind})
        _failed(session, task_id, "outbox.no_handler", clock())
        return 0
    # Each task reads what the database holds now, never what an earlier task of this run left in the session.
    session.expire_all()
    try:
        handler(session, ref)
    except DomainError as failure:
        # A channel or hospital that cannot answer now: try again later, with the code to see why.
        session.rollback()
        _failed(session, task_id, failure.code, clock())
        return 0
    except Exception:  # noqa: BLE001 - one task's bug must not stop the others: it is logged and tried again later
        log.exception("an outbox task crashed", extra={"kind": kind})
        session.rollback()
        _failed(session, task_id, CRASHED, clock())
        return 0
    _done(session, task_id, clock())
    return 1


def _done(session: Session, task_id: int, now: datetime) -> None:
    with transaction(session):
        row = session.get(OutboxTask, task_id)
        if row is not None:
            row.done_at = now
            row.last_error = None


def _failed(session: Session, task_id: int, code: str, now: datetime) -> None:
    with transaction(session):
        row = session.get(OutboxTask, task_id)
        if row is not None:
            row.last_error = code[:128]
            row.due_at = now + BACKOFF[min(row.attempts, len(BACKOFF)) - 1]
            log.warning("an outbox task failed; it runs again later", extra={"kind": row.kind, "code": code})
