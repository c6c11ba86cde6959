"""Reconciliation runs: one per merchant and day whoever asks, the schedule after 10:00, no bill long after the day."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.gateway import BillRefused
from billing.gateway import PaymentGateway
from billing.models import OutboxTask
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import RECONCILE
from billing.reconciliation.runs import Reconciler
from billing.reconciliation.runs import ask_for_due_runs
from billing.reconciliation.runs import ask_for_run
from billing.reconciliation.runs import carry_out
from database import transaction
from errors import UpstreamUnavailable
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
