"""Reconciliation runs: one per merchant and day whoever asks, the schedule after 10:00, no bill long after the day."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.gateway import BillRefused
from billing.gateway import DayBill
from billing.gateway import PaymentGateway
from billing.models import OutboxTask
from billing.reconciliation import review
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import RECONCILE
from billing.reconciliation.runs import Reconciler
from billing.reconciliation.runs import ask_for_due_runs
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import carry_out
from database import transaction
from errors import UpstreamUnavailable
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.billing.world import MERCHANT
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.concurrency import run_together
from tests.conftest import Clock

DAY = date(2026, 11, 18)


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


@pytest.fixture
def reconciler(gateway: FakePaymentGateway, clock: Clock) -> Reconciler:
    other = FakePaymentGateway("alipay", "2021004100000001", clock)
    gateways: dict[tuple[str, str], PaymentGateway] = {
        ("wechat", MERCHANT): gateway,
        ("alipay", other.merchant_id): other,
    }
    return Reconciler(gateway_for=lambda c, m: gateways[(c, m)], merchants=lambda: sorted(gateways), clock=clock)


def runs(session: Session) -> list[tuple[str, str, date, str]]:
    session.rollback()
    rows = session.scalars(select(ReconciliationRun).order_by(ReconciliationRun.channel)).all()
    return [(run.channel, run.merchant_id, run.day, run.requested_by) for run in rows]


def test_the_schedule_asks_for_yesterdays_runs_once_after_ten_beijing_time(
    session: Session, clock: Clock, reconciler: Reconciler
) -> None:
    clock.now = datetime(2026, 11, 19, 1, 59, tzinfo=UTC)  # 09:59 in Beijing
    assert ask_for_due_runs(session, reconciler) == []
    clock.now = datetime(2026, 11, 19, 2, 5, tzinfo=UTC)
    assert len(ask_for_due_runs(session, reconciler)) == 2
    assert runs(session) == [
        ("alipay", "2021004100000001", DAY, "schedule"),
        ("wechat", MERCHANT, DAY, "schedule"),
    ]
    assert ask_for_due_runs(session, reconciler) == []
    tasks = session.scalars(select(OutboxTask.kind).where(OutboxTask.kind == RECONCILE)).all()
    assert len(tasks) == 2


def test_many_askers_at_once_get_one_run(app: Flask, clock: Clock) -> None:
    def ask(index: int) -> str:
        with app.extensions["session_factory"]() as db:
            return ask_for_run(db, "wechat", MERCHANT, DAY, f"staff:{index}", clock()).public_id

    public_ids = run_together(6, ask)
    assert len(set(public_ids)) == 1
    with app.extensions["session_factory"]() as db:
        (run,) = db.scalars(select(ReconciliationRun)).all()
        assert run.attempts == 6
        assert db.scalar(select(func.count()).select_from(OutboxTask).where(OutboxTask.kind == RECONCILE)) == 6


def test_long_after_the_day_no_bill_means_our_books_are_matched_against_nothing(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    gateway.bill_not_ready(DAY)
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    with pytest.raises(UpstreamUnavailable) as waiting:
        carry_out(session, reconciler, run.public_id)
    assert waiting.value.code == "billing.bill_not_ready"
    session.rollback()
    assert session.scalars(select(ReconciliationRun.status)).one() == "waiting"
    clock.advance(days=1, hours=23)  # 09:00 two days on: still not given up
    with pytest.raises(UpstreamUnavailable):
        carry_out(session, reconciler, run.public_id)
    clock.advance(hours=1)
    done = carry_out(session, reconciler, run.public_id)
    assert done is not None and done.status == "reconciled" and (done.summary or {})["no_bill"] is True
    session.rollback()
    found = session.scalars(select(Discrepancy)).all()
    assert [(d.kind, d.out_trade_no, d.at_stake_fen) for d in found] == [("missing_in_bill", order.out_trade_no, 2500)]


def test_an_unknown_run_is_nothing_to_carry_out(session: Session, reconciler: Reconciler) -> None:
    assert carry_out(session, reconciler, "rc" + "0" * 20) is None


def test_a_merchant_gone_from_the_configuration_leaves_the_run_to_retry(
    session: Session, clock: Clock, reconciler: Reconciler
) -> None:
    def gone(channel: str, merchant_id: str) -> Any:
        raise UpstreamUnavailable("billing.channel_unavailable", "not configured")

    run = ask_for_run(session, "wechat", "1900009999", DAY, "command", clock())
    missing = Reconciler(gateway_for=gone, merchants=reconciler.merchants, clock=clock)
    with pytest.raises(UpstreamUnavailable):
        carry_out(session, missing, run.public_id)
    session.rollback()
    assert session.scalars(select(ReconciliationRun.status)).one() == "queued"


def test_the_schedule_asks_for_yesterday_even_when_other_days_and_merchants_have_runs(
    session: Session, clock: Clock, reconciler: Reconciler
) -> None:
    ask_for_run(session, "wechat", MERCHANT, date(2026, 11, 17), "command", clock())
    ask_for_run(session, "wechat", "1900000999", DAY, "command", clock())
    clock.now = datetime(2026, 11, 19, 2, 5, tzinfo=UTC)
    assert sorted((run.channel, run.day) for run in ask_for_due_runs(session, reconciler)) == [
        ("alipay", DAY),
        ("wechat", DAY),
    ]


def test_a_reconciled_run_stays_reconciled_when_its_bill_is_late_again_and_fails_on_a_bad_one(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    done = carry_out(session, reconciler, run.public_id)
    assert done is not None and done.status == "reconciled"
    gateway.bill_not_ready(DAY)
    with pytest.raises(UpstreamUnavailable):
        carry_out(session, reconciler, run.public_id)
    session.rollback()
    assert session.scalars(select(ReconciliationRun.status)).one() == "reconciled"

    class Refusing(FakePaymentGateway):
        def bill(self, day: date, folder: Any) -> Any:
            raise BillRefused("hash mismatch")

    refusing = Reconciler(
        gateway_for=lambda c, m: Refusing("wechat", MERCHANT, clock), merchants=reconciler.merchants, clock=clock
    )
    failed = carry_out(session, refusing, run.public_id)
    assert failed is not None and (failed.status, failed.failure) == ("failed", "hash mismatch")


def test_a_changed_bill_replaces_the_unreviewed_differences_and_keeps_the_rest(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    changed, dropped, steady = (open_order(session, gateway, clock, 2500) for _ in range(3))
    for order in (changed, dropped, steady):
        assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    gateway.plant_bill_difference("missing_payment", dropped.out_trade_no)
    gateway.plant_bill_difference("fee", steady.out_trade_no, 99)
    elsewhere = ask_for_run(session, "wechat", MERCHANT, date(2026, 11, 17), "command", clock())
    with transaction(session):
        session.add(
            Discrepancy(
                public_id="dc" + "1" * 20, run_id=elsewhere.id, key="payment:other:2", kind="missing_in_ledger",
                channel="wechat", out_trade_no="other", ledger_fen=0, bill_fen=1, at_stake_fen=1, detail="x",
                state="open", created_at=clock(), updated_at=clock(),
            )
        )  # fmt: skip
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)

    def found() -> dict[str, tuple[str, str, int]]:
        session.rollback()
        rows = session.scalars(select(Discrepancy).where(Discrepancy.run_id == run.id)).all()
        return {row.out_trade_no: (row.public_id, row.kind, row.bill_fen) for row in rows}

    first = found()
    assert {number: facts[1:] for number, facts in first.items()} == {
        changed.out_trade_no: ("amount_mismatch", 2600),
        dropped.out_trade_no: ("missing_in_bill", 0),
        steady.out_trade_no: ("unexpected_fee", 99),
    }
    gateway.forget_bill_differences()
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2700)
    gateway.plant_bill_difference("fee", steady.out_trade_no, 99)
    carry_out(session, reconciler, run.public_id)
    second = found()
    assert set(second) == {changed.out_trade_no, steady.out_trade_no}  # the dropped payment is in the bill again
    assert second[changed.out_trade_no][1:] == ("amount_mismatch", 2700)
    assert second[changed.out_trade_no][0] != first[changed.out_trade_no][0]  # other facts: found afresh
    assert second[steady.out_trade_no] == first[steady.out_trade_no]  # the same facts: the same discrepancy
    assert session.scalar(select(Discrepancy.public_id).where(Discrepancy.run_id == elsewhere.id)) == "dc" + "1" * 20


def reviewer(session: Session, clock: Clock, name: str) -> StaffMember:
    with transaction(session):
        return create_staff_member(
            session, NewStaffMember(name, name, "a long enough password", "channel_admin", (), ("wechat",)), now=clock()
        )


def stored(session: Session, run_id: int) -> dict[str, Discrepancy]:
    """The run's discrepancies by their out_trade_no, as the database holds them now."""
    session.rollback()
    return {row.out_trade_no: row for row in session.scalars(select(Discrepancy).where(Discrepancy.run_id == run_id))}


def test_a_difference_found_again_on_another_line_keeps_its_id_and_takes_the_new_line(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """A changed bill shifts a kept difference's line: its id stays, its line and record follow the bill."""
    stranger = gateway.plant_bill_difference("extra_payment", amount_fen=300)  # the bill's first line, at first
    clock.advance(minutes=1)
    changed = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(changed.out_trade_no), clock).received
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)
    first = stored(session, run.id)
    assert set(first) == {stranger, changed.out_trade_no}
    before = first[changed.out_trade_no]
    assert (before.bill_line, (before.bill_record or {})["line"]) == (3, 3)  # after the header and the stranger
    public_id = before.public_id
    gateway.forget_bill_differences()
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    carry_out(session, reconciler, run.public_id)
    second = stored(session, run.id)
    assert set(second) == {changed.out_trade_no}  # the stranger is gone from the bill, and from the run
    after = second[changed.out_trade_no]
    assert (after.public_id, after.bill_line, (after.bill_record or {})["line"]) == (public_id, 2, 2)
    assert ((after.bill_record or {})["amount_fen"], after.bill_fen, after.ledger_fen) == (2600, 2600, 2500)


def test_reviewed_differences_are_never_replaced_nor_removed_by_a_changed_bill(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """Resolved and awaiting ones keep what their reviewer saw, gone from the bill or found with other facts."""
    fee, dropped, changed, moved = (open_order(session, gateway, clock, 2500) for _ in range(4))
    for order in (fee, dropped, changed, moved):
        assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
        clock.advance(minutes=1)
    gateway.plant_bill_difference("fee", fee.out_trade_no, 99)
    gateway.plant_bill_difference("missing_payment", dropped.out_trade_no)
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2600)
    gateway.plant_bill_difference("amount_differs", moved.out_trade_no, 2700)
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)
    first = stored(session, run.id)
    maker = reviewer(session, clock, "maker")
    review.resolve(session, maker, first[fee.out_trade_no].public_id, "accepted", "a promotion", None, clock())
    review.resolve(session, maker, first[dropped.out_trade_no].public_id, "written_off", "lost", None, clock())
    review.resolve(session, maker, first[changed.out_trade_no].public_id, "fixed_upstream", "fixed", None, clock())
    gateway.forget_bill_differences()  # every difference but the unreviewed one is gone from the bill
    gateway.plant_bill_difference("amount_differs", changed.out_trade_no, 2800)  # found again, with other facts
    gateway.plant_bill_difference("amount_differs", moved.out_trade_no, 2700)
    carry_out(session, reconciler, run.public_id)
    second = stored(session, run.id)
    assert {number: (row.public_id, row.state, row.bill_fen, row.bill_line) for number, row in second.items()} == {
        fee.out_trade_no: (first[fee.out_trade_no].public_id, "resolved", 99, 2),
        dropped.out_trade_no: (first[dropped.out_trade_no].public_id, "awaiting_approval", 0, None),
        changed.out_trade_no: (first[changed.out_trade_no].public_id, "resolved", 2600, 3),
        moved.out_trade_no: (first[moved.out_trade_no].public_id, "open", 2700, 5),  # was line 4: dropped is back
    }


def test_more_than_two_thousand_differences_are_stored_and_later_removed_in_full(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """Differences are written and deleted a thousand at a time: none is lost at a batch's edge, nor past two."""
    strangers = {gateway.plant_bill_difference("extra_payment", amount_fen=100) for _ in range(2001)}
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)
    assert set(stored(session, run.id)) == strangers
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    gateway.forget_bill_differences()  # the bill now agrees with our books
    done = carry_out(session, reconciler, run.public_id)
    assert done is not None and done.status == "reconciled"
    assert stored(session, run.id) == {}


class Records(logging.Handler):
    """What the reconciliation log said (the app's logging setup stops propagation to caplog)."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def reconciliation_log() -> Iterator[Records]:
    logger = logging.getLogger("citytiles.reconciliation")
    records = Records()
    logger.addHandler(records)
    yield records
    logger.removeHandler(records)


def test_a_reconciled_bill_is_logged_with_its_channel_day_and_count_and_a_refused_one_with_its_reason(
    app: Flask,
    session: Session,
    clock: Clock,
    gateway: FakePaymentGateway,
    reconciler: Reconciler,
    reconciliation_log: Records,
) -> None:
    """The log tells which bill was matched and what it found, or why a bill was refused."""
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    gateway.plant_bill_difference("extra_payment", amount_fen=300)
    gateway.plant_bill_difference("fee", order.out_trade_no, 99)
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)
    (done,) = reconciliation_log.records
    assert (done.levelno, done.getMessage()) == (logging.INFO, "a bill was reconciled")
    assert (done.channel, done.day, done.discrepancies) == ("wechat", "2026-11-18", 2)

    class Refusing(FakePaymentGateway):
        def bill(self, day: date, folder: Path) -> DayBill:
            raise BillRefused("hash mismatch")

    refusing = Reconciler(lambda c, m: Refusing(c, m, clock), reconciler.merchants, clock)
    carry_out(session, refusing, run.public_id)
    refused = reconciliation_log.records[-1]
    assert (refused.levelno, refused.getMessage()) == (logging.WARNING, "a bill was refused")
    assert (refused.channel, refused.reason) == ("wechat", "hash mismatch")


def test_a_bill_not_made_yet_asks_to_be_tried_again_in_ten_minutes_and_leaves_no_failure(
    session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """Waiting for the channel is no failure: the run says waiting, and the task comes back in ten minutes."""
    gateway.bill_not_ready(DAY)
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    clock.advance(minutes=5)
    with pytest.raises(UpstreamUnavailable) as waiting:
        carry_out(session, reconciler, run.public_id)
    assert (waiting.value.code, waiting.value.retry_after) == ("billing.bill_not_ready", 600)
    session.rollback()
    row = session.scalars(select(ReconciliationRun)).one()
    assert (row.status, row.failure, row.updated_at, row.summary) == ("waiting", None, clock(), None)


def test_an_unreadable_bill_fails_the_run_with_why_and_a_readable_one_clears_it_keeping_its_bad_lines(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """The failure says why the file could not be read; a readable bill then reconciles the run with its bad lines."""

    class Garbled(FakePaymentGateway):
        def bill(self, day: date, folder: Path) -> DayBill:
            path = folder / "garbled.csv"
            path.write_text("this is no bill\r\n", encoding="utf-8")
            return DayBill("wechat", MERCHANT, day, path, "0" * 40)

    garbled = Reconciler(lambda c, m: Garbled(c, m, clock), reconciler.merchants, clock)
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    failed = carry_out(session, garbled, run.public_id)
    assert failed is not None
    assert (failed.status, failed.failure) == ("failed", "the bill cannot be read: no detail header")
    assert (failed.summary, failed.bill_sha1, failed.reconciled_at) == (None, None, None)

    class Smudged(FakePaymentGateway):
        def bill(self, day: date, folder: Path) -> DayBill:
            made = gateway.bill(day, folder)
            header, rest = made.path.read_bytes().split(b"\r\n", 1)
            made.path.write_bytes(header + b"\r\n`smudged\r\n" + rest)
            return replace(made, sha1="1" * 40)

    clock.advance(minutes=3)
    done = carry_out(session, Reconciler(lambda c, m: Smudged(c, m, clock), reconciler.merchants, clock), run.public_id)
    assert done is not None
    session.rollback()
    row = session.scalars(select(ReconciliationRun)).one()
    assert (row.status, row.failure, row.reconciled_at, row.updated_at) == ("reconciled", None, clock(), clock())
    assert row.bad_lines == [{"line": 2, "reason": "1 cells where the header has 27"}]
    assert row.summary is not None and (row.summary["bad_lines"], row.summary["ledger"]["payments"]) == (1, 1)


def test_a_failed_run_is_reconciled_by_the_bill_it_matched_before_and_that_bill_again_changes_nothing(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """The same bill is skipped only while the run stands reconciled by it; a failure in between is cleared."""
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    first = carry_out(session, reconciler, run.public_id)
    assert first is not None and first.status == "reconciled"
    reconciled_at = first.reconciled_at
    clock.advance(minutes=5)
    again = carry_out(session, reconciler, run.public_id)
    assert again is not None and (again.status, again.reconciled_at) == ("reconciled", reconciled_at)

    class Refusing(FakePaymentGateway):
        def bill(self, day: date, folder: Path) -> DayBill:
            raise BillRefused("hash mismatch")

    clock.advance(minutes=5)
    carry_out(session, Reconciler(lambda c, m: Refusing(c, m, clock), reconciler.merchants, clock), run.public_id)
    clock.advance(minutes=5)
    done = carry_out(session, reconciler, run.public_id)
    assert done is not None and (done.status, done.failure, done.reconciled_at) == ("reconciled", None, clock())


def test_asking_again_queues_a_failed_run_and_leaves_a_reconciled_one_reconciled(
    app: Flask, session: Session, clock: Clock, gateway: FakePaymentGateway, reconciler: Reconciler
) -> None:
    """A reconciled run keeps its status while it is fetched again; any other is queued, by its latest asker."""
    order = open_order(session, gateway, clock, 2500)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    run = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    carry_out(session, reconciler, run.public_id)
    clock.advance(minutes=1)
    asked = ask_for_run(session, "wechat", MERCHANT, DAY, "staff:7", clock())
    assert (asked.status, asked.attempts, asked.requested_by, asked.updated_at) == ("reconciled", 2, "staff:7", clock())

    class Refusing(FakePaymentGateway):
        def bill(self, day: date, folder: Path) -> DayBill:
            raise BillRefused("hash mismatch")

    carry_out(session, Reconciler(lambda c, m: Refusing(c, m, clock), reconciler.merchants, clock), run.public_id)
    again = ask_for_run(session, "wechat", MERCHANT, DAY, "schedule", clock())
    assert (again.status, again.attempts, again.requested_by) == ("queued", 3, "schedule")
    session.rollback()
    refs = session.scalars(select(OutboxTask.ref).where(OutboxTask.kind == RECONCILE).order_by(OutboxTask.id)).all()
    assert refs == [f"{run.public_id}:{n}" for n in (1, 2, 3)]


def test_the_same_merchant_number_on_two_channels_has_a_run_on_each(session: Session, clock: Clock) -> None:
    """A run is the channel's and the merchant's: the same number on another channel is another merchant."""
    both = [("alipay", MERCHANT), ("wechat", MERCHANT)]
    reconciler = Reconciler(gateway_for=lambda c, m: None, merchants=lambda: both, clock=clock)  # type: ignore[arg-type]
    clock.now = datetime(2026, 11, 19, 2, 5, tzinfo=UTC)
    asked = ask_for_due_runs(session, reconciler)
    assert sorted((run.channel, run.merchant_id, run.day) for run in asked) == [
        ("alipay", MERCHANT, DAY),
        ("wechat", MERCHANT, DAY),
    ]
    assert len({run.public_id for run in asked}) == 2
    again = ask_for_run(session, "wechat", MERCHANT, DAY, "command", clock())
    assert again.public_id == next(run.public_id for run in asked if run.channel == "wechat")
