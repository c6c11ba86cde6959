"""The outbox: due tasks claimed oldest first for a lease, done once, and what they write done in the same run."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.models import OutboxTask
from billing.outbox import CRASHED
from billing.outbox import LEASE
from billing.outbox import PASSES
from billing.outbox import carry_out
from billing.outbox import claim
from billing.outbox import enqueue
from database import transaction
from errors import UpstreamUnavailable
from tests.billing.world import held_by_another_worker
from tests.billing.world import impatient_session
from tests.conftest import Clock


def write(session: Session, clock: Clock, *refs: str, kind: str = "fulfil") -> None:
    """Tasks written a second apart, in the order given."""
    for ref in refs:
        with transaction(session):
            enqueue(session, kind, ref, clock())
        clock.advance(seconds=1)


def task(session: Session, ref: str) -> OutboxTask:
    session.rollback()
    row = session.scalar(select(OutboxTask).where(OutboxTask.ref == ref))
    assert row is not None
    return row


def test_a_claim_takes_the_oldest_due_tasks_up_to_its_limit_for_a_lease(session: Session, clock: Clock) -> None:
    write(session, clock, "c", "a", "b")
    with transaction(session):
        enqueue(session, "fulfil", "later", clock() + timedelta(minutes=1))  # not due yet
    taken = claim(session, clock(), limit=2)
    assert [ref for _, _, ref in taken] == ["c", "a"]
    assert (task(session, "c").due_at, task(session, "c").attempts) == (clock() + LEASE, 1)
    assert (task(session, "b").due_at, task(session, "b").attempts) == (clock() - timedelta(seconds=1), 0)
    assert [ref for _, _, ref in claim(session, clock())] == ["b"]  # the leased ones are not taken again
    assert claim(session, clock()) == []
    clock.advance(seconds=LEASE.total_seconds())
    # A lease that ran out (its worker died) makes the task due again; the one written for later is due too.
    assert sorted(ref for _, _, ref in claim(session, clock())) == ["a", "b", "c", "later"]
    assert task(session, "c").attempts == 2


def test_a_named_task_is_claimed_alone_and_only_when_due(session: Session, clock: Clock) -> None:
    write(session, clock, "a", "b")
    b_id = task(session, "b").id
    assert [(task_id, ref) for task_id, _, ref in claim(session, clock(), task_id=b_id)] == [(b_id, "b")]
    assert claim(session, clock(), task_id=b_id) == []  # leased
    assert task(session, "a").attempts == 0


def test_the_same_kind_and_ref_is_one_task(session: Session, clock: Clock) -> None:
    write(session, clock, "a", "a")
    write(session, clock, "a", kind="booked_notice")
    session.rollback()
    assert sorted(session.scalars(select(OutboxTask.kind))) == ["booked_notice", "fulfil"]


def test_a_run_carries_out_what_its_tasks_write_but_stops_after_its_passes(session: Session, clock: Clock) -> None:
    write(session, clock, "0")
    done: list[str] = []

    def chain(db: Session, ref: str) -> None:
        done.append(ref)
        with transaction(db):
            enqueue(db, "fulfil", str(int(ref) + 1), clock())  # each task writes the next, without end

    assert carry_out(session, {"fulfil": chain}, clock) == PASSES
    assert done == [str(n) for n in range(PASSES)]
    session.rollback()
    assert session.scalar(select(OutboxTask.done_at).where(OutboxTask.ref == str(PASSES))) is None  # the next run's


def test_a_named_run_does_only_that_task(session: Session, clock: Clock) -> None:
    write(session, clock, "a", "b")
    done: list[str] = []
    b_id = task(session, "b").id
    assert carry_out(session, {"fulfil": lambda _db, ref: done.append(ref)}, clock, task_id=b_id) == 1
    assert done == ["b"]
    assert (task(session, "b").done_at, task(session, "a").done_at) == (clock(), None)


def test_each_task_reads_what_the_database_holds_not_what_an_earlier_task_left(
    app: object, session: Session, clock: Clock
) -> None:
    write(session, clock, "a", "b")
    sessions = app.extensions["session_factory"]  # type: ignore[attr-defined]
    seen: list[str | None] = []
    kept: list[object] = []

    def first(db: Session, _ref: str) -> None:
        kept.append(db.scalar(select(OutboxTask).where(OutboxTask.ref == "b")))  # held by this session, and by us
        with sessions() as other, transaction(other):  # another worker changes it meanwhile
            row = other.scalar(select(OutboxTask).where(OutboxTask.ref == "b"))
            row.last_error = "changed elsewhere"

    def second(db: Session, ref: str) -> None:
        seen.append(db.scalar(select(OutboxTask).where(OutboxTask.ref == ref)).last_error)  # type: ignore[union-attr]

    with sessions() as worker:  # as the web tier and the worker make them: objects kept across commits
        assert carry_out(worker, {"fulfil": lambda db, ref: (first if ref == "a" else second)(db, ref)}, clock) == 2
    assert seen == ["changed elsewhere"]


def test_a_task_that_crashes_is_logged_and_retried_and_the_others_still_run(
    session: Session, clock: Clock, caplog: Any
) -> None:
    write(session, clock, "a", "b")
    done: list[str] = []

    def handler(_db: Session, ref: str) -> None:
        if ref == "a":
            raise KeyError("a bug in one handler")
        done.append(ref)

    caplog.set_level(logging.ERROR, logger="citytiles.outbox")
    assert carry_out(session, {"fulfil": handler}, clock) == 1
    assert done == ["b"]
    crashed = task(session, "a")
    assert (crashed.last_error, crashed.done_at, crashed.due_at) == (CRASHED, None, clock() + timedelta(seconds=10))
    assert [(r.getMessage(), r.kind) for r in caplog.records] == [("an outbox task crashed", "fulfil")]  # type: ignore[attr-defined]


def test_a_claim_takes_twenty_tasks_unless_told_otherwise(session: Session, clock: Clock) -> None:
    write(session, clock, *(f"t{n:02}" for n in range(21)))
    assert [ref for _, _, ref in claim(session, clock())] == [f"t{n:02}" for n in range(20)]
    assert [ref for _, _, ref in claim(session, clock())] == ["t20"]


def test_a_claim_goes_by_due_time_not_by_when_a_task_was_written(session: Session, clock: Clock) -> None:
    write(session, clock, "written first")
    with transaction(session):
        enqueue(session, "fulfil", "due first", clock() - timedelta(minutes=1))  # e.g. one put back after a failure
    assert [ref for _, _, ref in claim(session, clock(), limit=1)] == ["due first"]


def test_a_done_task_is_never_claimed_again(session: Session, clock: Clock) -> None:
    write(session, clock, "a")
    assert carry_out(session, {"fulfil": lambda _db, _ref: None}, clock) == 1
    clock.advance(seconds=LEASE.total_seconds() * 2)  # past the lease it was claimed for
    assert claim(session, clock()) == []
    assert carry_out(session, {"fulfil": lambda _db, _ref: None}, clock) == 0
    assert task(session, "a").attempts == 1


def test_a_failed_task_is_logged_with_its_kind_and_why_and_keeps_a_code_that_fits(
    session: Session, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    write(session, clock, "a")
    write(session, clock, "b", kind="from_a_newer_build")
    clock.advance(seconds=1)
    long_code = "upstream." + "x" * 200

    def hospital_down(_db: Session, _ref: str) -> None:
        raise UpstreamUnavailable(long_code, "down")

    caplog.set_level(logging.WARNING, logger="citytiles.outbox")
    assert carry_out(session, {"fulfil": hospital_down}, clock) == 0
    assert task(session, "a").last_error == long_code[:128]
    assert task(session, "b").last_error == "outbox.no_handler"
    logged = [(r.levelname, r.getMessage(), getattr(r, "kind", None), getattr(r, "code", None)) for r in caplog.records]
    assert sorted(logged) == [
        ("ERROR", "no handler for an outbox task", "from_a_newer_build", None),
        ("WARNING", "an outbox task failed; it runs again later", "from_a_newer_build", "outbox.no_handler"),
        ("WARNING", "an outbox task failed; it runs again later", "fulfil", long_code),
    ]


# PostgreSQL only: SQLite's write lock serialises workers, so there is no held row to skip.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_claim_skips_a_task_another_worker_holds_instead_of_waiting(
    app: Flask, session: Session, clock: Clock, database_url: str
) -> None:
    write(session, clock, "a", "b")
    with held_by_another_worker(app, select(OutboxTask).where(OutboxTask.ref == "a")):
        with impatient_session(database_url) as db:
            assert [ref for _, _, ref in claim(db, clock())] == ["b"]
    assert [ref for _, _, ref in claim(session, clock())] == ["a"]
