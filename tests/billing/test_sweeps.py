"""The sweeps: lost notifications found by query, expired orders closed, refunds asked again and polled."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.fake import FakePaymentGateway
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import ChannelPayment
from billing.gateway import ChannelRefund
from billing.gateway import PaymentGateway
from billing.gateway import RefundOrder
from billing.models import OutboxTask
from billing.models import Payment
from billing.models import Refund
from billing.refunds import record_refund_answer
from billing.refunds import request_refund
from billing.sweeps import BATCH
from billing.sweeps import QUERY_AFTER
from billing.sweeps import REFUND_POLL_AFTER
from billing.sweeps import REFUND_RETRY_AFTER
from billing.sweeps import Sweeper
from billing.sweeps import close_expired_orders
from billing.sweeps import poll_refunds
from billing.sweeps import query_unpaid_orders
from billing.sweeps import retry_refunds
from billing.sweeps import sweep
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Recording
from tests.billing.world import deliver
from tests.billing.world import entries
from tests.billing.world import held_by_another_worker
from tests.billing.world import impatient_session
from tests.billing.world import open_order
from tests.billing.world import payment
from tests.concurrency import run_together
from tests.conftest import Clock


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


@pytest.fixture
def sweeper(gateway: FakePaymentGateway, clock: Clock) -> Sweeper:
    return Sweeper(gateway_for=lambda _p: gateway, notify_url_for=lambda _g: NOTIFY_URL, clock=clock)


def test_a_payment_whose_notification_was_lost_is_found_by_query_and_applied_once(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    gateway.pay(order.out_trade_no)  # the notification never arrives
    assert query_unpaid_orders(session, sweeper) == 0  # too early to ask
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    assert query_unpaid_orders(session, sweeper) == 1
    paid = payment(app, order.out_trade_no)
    assert (paid.status, paid.channel_trade_no) == (statuses.PAID, order.checkout["reference"])
    # The notification arrives late after all: nothing more happens.
    assert deliver(app, gateway, gateway.payment_notification(order.out_trade_no), clock).outcome == "duplicate"
    assert entries(app, order.id) == 1
    assert query_unpaid_orders(session, sweeper) == 0


def test_an_expired_order_is_closed_and_one_paid_at_the_last_moment_counts_as_paid(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    unpaid = open_order(session, gateway, clock)
    late = open_order(session, gateway, clock)
    gateway.pay(late.out_trade_no)
    clock.advance(minutes=11)
    assert close_expired_orders(session, sweeper) == 1
    assert payment(app, unpaid.out_trade_no).status == statuses.CLOSED
    assert gateway.query(unpaid.out_trade_no).state == "closed"
    assert payment(app, late.out_trade_no).status == statuses.PAID and entries(app, late.id) == 1
    assert close_expired_orders(session, sweeper) == 0


def test_an_order_the_channel_never_had_is_closed_here(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    gateway.down = True
    with pytest.raises(Exception, match="cannot be reached"):
        open_order(session, gateway, clock)
    gateway.down = False
    clock.advance(minutes=11)
    assert close_expired_orders(session, sweeper) == 1


def test_an_unreachable_channel_leaves_the_order_for_the_next_pass(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    clock.advance(minutes=11)
    gateway.down = True
    assert close_expired_orders(session, sweeper) == 0
    assert payment(app, order.out_trade_no).status == statuses.CREATED
    gateway.down = False
    assert close_expired_orders(session, sweeper) == 1


def test_refunds_are_asked_again_and_polled_until_they_settle(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    from billing.refunds import request_refund

    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no), clock)
    gateway.down = True
    with app.extensions["session_factory"]() as db:
        assert request_refund(db, gateway, order.id, 2500, "refused", "saga:test", NOTIFY_URL, clock).status == (
            statuses.REQUESTED
        )
    gateway.down = False
    assert retry_refunds(session, sweeper) == 0  # not yet
    clock.advance(seconds=REFUND_RETRY_AFTER.total_seconds())
    assert retry_refunds(session, sweeper) == 1
    session.rollback()
    refund = session.scalars(select(Refund)).one()
    assert refund.status == statuses.PROCESSING
    gateway.settle_refund(order.out_trade_no, refund.out_refund_no)  # its notification is lost
    clock.advance(seconds=REFUND_POLL_AFTER.total_seconds())
    assert poll_refunds(session, sweeper) == 1
    session.rollback()
    assert session.scalars(select(Refund.status)).one() == statuses.SUCCEEDED
    assert payment(app, order.out_trade_no).status == statuses.REFUNDED
    assert gateway.query_refund(order.out_trade_no, refund.out_refund_no).state == REFUND_SUCCEEDED


def test_two_sweepers_at_once_apply_a_lost_payment_once(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    orders = [open_order(session, gateway, clock) for _ in range(3)]
    for order in orders:
        gateway.pay(order.out_trade_no)
    clock.advance(seconds=QUERY_AFTER.total_seconds())

    def one_pass(_: int) -> int:
        with app.extensions["session_factory"]() as db:
            return sweep(db, sweeper, {}).queried

    run_together(4, one_pass)
    for order in orders:
        assert payment(app, order.out_trade_no).status == statuses.PAID
        assert entries(app, order.id) == 1


def test_a_sweep_report_counts_each_sweep(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    open_order(session, gateway, clock)
    clock.advance(minutes=11, seconds=1)
    report = sweep(session, sweeper, {})
    assert (report.queried, report.closed, report.refunds_asked, report.refunds_polled) == (0, 1, 0, 0)
    assert timedelta(minutes=11) > QUERY_AFTER


def test_a_task_no_handler_knows_waits_for_a_build_that_does(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no), clock)
    assert sweep(session, sweeper, {}).tasks_done == 0
    session.rollback()
    task = session.scalars(select(OutboxTask)).one()
    assert (task.last_error, task.done_at, task.attempts) == ("outbox.no_handler", None, 1)
    clock.advance(seconds=10)
    assert sweep(session, sweeper, {"fulfil": lambda _s, _ref: None}).tasks_done == 1


def test_a_payment_after_a_failed_try_whose_news_was_lost_is_found(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no, succeed=False), clock)
    assert payment(app, order.out_trade_no).status == statuses.FAILED
    gateway.pay(order.out_trade_no)  # the payer tries again and pays; that notification is lost
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    assert query_unpaid_orders(session, sweeper) == 1
    assert payment(app, order.out_trade_no).status == statuses.PAID and entries(app, order.id) == 1


def test_a_failing_task_backs_off_longer_each_time_and_keeps_why(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    from billing.outbox import BACKOFF
    from billing.outbox import carry_out
    from errors import UpstreamUnavailable

    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no), clock)

    def hospital_down(_session: Session, _ref: str) -> None:
        raise UpstreamUnavailable("upstream.unavailable", "down")

    waits = []
    for _ in range(len(BACKOFF) + 1):
        assert carry_out(session, {"fulfil": hospital_down}, clock) == 0
        session.rollback()
        task = session.scalars(select(OutboxTask)).one()
        waits.append(task.due_at - clock())
        assert (task.last_error, task.done_at) == ("upstream.unavailable", None)
        clock.advance(seconds=(task.due_at - clock()).total_seconds())
    assert waits == [*BACKOFF, BACKOFF[-1]]
    assert carry_out(session, {"fulfil": lambda _s, _r: None}, clock) == 1
    session.rollback()
    done = session.scalars(select(OutboxTask)).one()
    assert (done.attempts, done.last_error, done.done_at) == (len(BACKOFF) + 2, None, clock())


def test_what_a_sweep_could_not_do_is_logged_with_the_channels_code(
    app: Flask,
    session: Session,
    gateway: FakePaymentGateway,
    sweeper: Sweeper,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    order = open_order(session, gateway, clock)
    gateway.pay(order.out_trade_no)
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    gateway.down = True
    with caplog.at_level("WARNING", logger="citytiles.billing"):
        assert query_unpaid_orders(session, sweeper) == 1
        clock.advance(minutes=11)
        assert close_expired_orders(session, sweeper) == 0
    codes = [getattr(r, "code", None) for r in caplog.records if r.name == "citytiles.billing"]
    assert codes == ["billing.channel_unavailable", "billing.channel_unavailable"]
    assert payment(app, order.out_trade_no).status == statuses.CREATED


def test_an_order_is_closed_at_its_expiry_not_a_second_before_and_only_then_no_longer_asked(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    clock.advance(seconds=(order.expires_at - clock()).total_seconds() - 1)
    assert query_unpaid_orders(session, sweeper) == 1  # still payable: asked about
    assert close_expired_orders(session, sweeper) == 0
    clock.advance(seconds=1)
    assert query_unpaid_orders(session, sweeper) == 0  # past paying: closing is what is left
    assert close_expired_orders(session, sweeper) == 1
    closed = payment(app, order.out_trade_no)
    assert (closed.status, closed.updated_at) == (statuses.CLOSED, clock())


def test_an_order_the_channel_never_placed_is_not_asked_about(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    gateway.down = True
    with pytest.raises(Exception, match="cannot be reached"):
        open_order(session, gateway, clock)  # recorded here, never placed there
    gateway.down = False
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    assert query_unpaid_orders(session, sweeper) == 0
    assert [call for call, _ in gateway.calls] == ["create"]


def test_a_refused_close_leaves_the_order_and_logs_the_channels_code(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock, caplog: Any
) -> None:
    order = open_order(session, gateway, clock)
    gateway.pay(order.out_trade_no, succeed=False)  # tried and failed: still payable
    clock.advance(minutes=11)
    caplog.set_level(logging.WARNING, logger="citytiles.billing")
    refusing = Sweeper(gateway_for=lambda _p: RefusingClose(clock), notify_url_for=lambda _g: NOTIFY_URL, clock=clock)
    assert close_expired_orders(session, refusing) == 0
    assert payment(app, order.out_trade_no).status in (statuses.CREATED, statuses.FAILED)
    assert [(r.getMessage(), r.code) for r in caplog.records] == [  # type: ignore[attr-defined]
        ("an expired order could not be closed", "billing.order_conflict")
    ]


class RefusingClose(FakePaymentGateway):
    """A channel that refuses to close, for a reason other than the order being paid or unknown."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("wechat", MERCHANT, clock)

    def close(self, out_trade_no: str) -> None:
        raise UpstreamRejected("billing.order_conflict", "The channel refused.", "conflict")


OTHER_MERCHANT = "1900000200"


def paid_order(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock) -> Payment:
    """An order paid, its notification received."""
    order = open_order(session, gateway, clock)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return order


def ask_refund(
    app: Flask, gateway: FakePaymentGateway, payment_id: int, clock: Clock, amount_fen: int = 1000
) -> Refund:
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        return request_refund(db, gateway, payment_id, amount_fen, "refused", "saga:test", NOTIFY_URL, clock)


def refund_status(session: Session, refund_id: int) -> str:
    session.rollback()
    return session.scalars(select(Refund.status).where(Refund.id == refund_id)).one()


def callback_of(gateway: PaymentGateway) -> str:
    """A merchant's own callback URL, as the app builds it."""
    return f"http://127.0.0.1:8000/callbacks/wechat-pay/{gateway.merchant_id}"


def test_each_payment_is_swept_through_its_own_merchant_and_callback(
    app: Flask, session: Session, clock: Clock
) -> None:
    merchants = {merchant_id: Recording(clock, merchant_id) for merchant_id in (MERCHANT, OTHER_MERCHANT)}
    sweeper = Sweeper(gateway_for=lambda p: merchants[p.merchant_id], notify_url_for=callback_of, clock=clock)
    lost = {m: open_order(session, gateway, clock) for m, gateway in merchants.items()}
    expiring = {m: open_order(session, gateway, clock) for m, gateway in merchants.items()}
    for m, gateway in merchants.items():
        gateway.pay(lost[m].out_trade_no)  # its notification is lost
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    assert query_unpaid_orders(session, sweeper) == 4
    assert {payment(app, order.out_trade_no).status for order in lost.values()} == {statuses.PAID}
    for m, gateway in merchants.items():
        gateway.down = True
        ask_refund(app, gateway, lost[m].id, clock)
        gateway.down = False
    clock.advance(seconds=REFUND_RETRY_AFTER.total_seconds())
    assert retry_refunds(session, sweeper) == 2
    for m, gateway in merchants.items():
        assert [asked.notify_url for asked in gateway.refunds] == [NOTIFY_URL, callback_of(gateway)]
        gateway.settle_refund(lost[m].out_trade_no, gateway.refunds[0].out_refund_no)  # its notification is lost
    clock.advance(seconds=REFUND_POLL_AFTER.total_seconds())
    assert poll_refunds(session, sweeper) == 2
    assert {payment(app, order.out_trade_no).status for order in lost.values()} == {statuses.PARTIALLY_REFUNDED}
    clock.advance(minutes=3)
    assert close_expired_orders(session, sweeper) == 2
    for m, gateway in merchants.items():
        assert gateway.query(expiring[m].out_trade_no).state == "closed"


def test_a_payment_whose_merchant_was_removed_waits_and_the_others_are_still_swept(
    app: Flask,
    session: Session,
    gateway: FakePaymentGateway,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    removed = FakePaymentGateway("wechat", OTHER_MERCHANT, clock)

    def gateway_for(payment: Payment) -> PaymentGateway:
        """As the app's: a merchant no longer configured is unavailable until it is back."""
        if payment.merchant_id == OTHER_MERCHANT:
            raise UpstreamUnavailable("billing.channel_unavailable", "The payment's merchant is not configured.")
        return gateway

    sweeper = Sweeper(gateway_for=gateway_for, notify_url_for=callback_of, clock=clock)
    stories = {}
    for each in (removed, gateway):  # the removed merchant's rows first: they must not stop ours
        lost, unpaid = open_order(session, each, clock), open_order(session, each, clock)
        each.pay(lost.out_trade_no)  # its notification is lost
        waiting, settling = paid_order(app, session, each, clock), paid_order(app, session, each, clock)
        each.down = True
        waiting_refund = ask_refund(app, each, waiting.id, clock)
        each.down = False
        settling_refund = ask_refund(app, each, settling.id, clock)
        each.settle_refund(settling.out_trade_no, settling_refund.out_refund_no)  # its notification is lost
        stories[each.merchant_id] = (lost, unpaid, waiting_refund, settling_refund)
    clock.advance(seconds=REFUND_POLL_AFTER.total_seconds())
    caplog.set_level(logging.WARNING, logger="citytiles.billing")
    caplog.clear()
    report = sweep(session, sweeper, {})
    assert (report.queried, report.closed, report.refunds_asked, report.refunds_polled) == (4, 0, 2, 2)
    lost, unpaid, waiting_refund, settling_refund = stories[MERCHANT]
    assert payment(app, lost.out_trade_no).status == statuses.PAID
    assert refund_status(session, waiting_refund.id) == statuses.PROCESSING
    assert refund_status(session, settling_refund.id) == statuses.SUCCEEDED
    lost, unpaid, waiting_refund, settling_refund = stories[OTHER_MERCHANT]
    assert payment(app, lost.out_trade_no).status == statuses.CREATED
    assert refund_status(session, waiting_refund.id) == statuses.REQUESTED
    assert refund_status(session, settling_refund.id) == statuses.PROCESSING
    clock.advance(minutes=6)  # past every order's expiry
    assert close_expired_orders(session, sweeper) == 1
    assert payment(app, stories[MERCHANT][1].out_trade_no).status == statuses.CLOSED
    assert {payment(app, order.out_trade_no).status for order in stories[OTHER_MERCHANT][:2]} == {statuses.CREATED}
    logged = [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records if r.name == "citytiles.billing"]
    assert sorted(set(logged)) == [
        ("a refund could not be asked for now", "billing.channel_unavailable"),
        ("a refund's state could not be asked now", "billing.channel_unavailable"),
        ("an expired order could not be closed now", "billing.channel_unavailable"),
        ("an order's state could not be asked now", "billing.channel_unavailable"),
    ]


def test_what_a_query_finds_is_applied_as_the_channel_says_it_happened(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    paid, failed, refunded = (open_order(session, gateway, clock) for _ in range(3))
    paid_at = clock()
    gateway.pay(paid.out_trade_no)  # none of these notifications arrives
    gateway.pay(failed.out_trade_no, succeed=False)
    gateway.pay(refunded.out_trade_no)
    # Given back whole at the channel (its merchant console) before we ever heard it was paid.
    gateway.refund(RefundOrder(refunded.out_trade_no, "rfconsole1", 2500, 2500, "console", NOTIFY_URL))
    gateway.settle_refund(refunded.out_trade_no, "rfconsole1")
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    assert query_unpaid_orders(session, sweeper) == 3
    found = payment(app, paid.out_trade_no)
    assert (found.status, found.paid_at, found.updated_at) == (statuses.PAID, paid_at, clock())
    assert payment(app, failed.out_trade_no).status == statuses.FAILED and entries(app, failed.id) == 0
    assert payment(app, refunded.out_trade_no).status == statuses.PAID and entries(app, refunded.id) == 1


def test_a_query_answering_another_amount_is_not_applied_and_is_logged(
    app: Flask, session: Session, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Misreporting(clock)
    sweeper = Sweeper(gateway_for=lambda _p: gateway, notify_url_for=callback_of, clock=clock)
    order = open_order(session, gateway, clock)
    gateway.pay(order.out_trade_no)
    clock.advance(seconds=QUERY_AFTER.total_seconds())
    caplog.set_level(logging.ERROR, logger="citytiles.billing")
    assert query_unpaid_orders(session, sweeper) == 1
    assert payment(app, order.out_trade_no).status == statuses.CREATED and entries(app, order.id) == 0
    assert [(r.getMessage(), getattr(r, "out_trade_no", None)) for r in caplog.records] == [
        ("the channel reports another amount for our order", order.out_trade_no)
    ]


class Misreporting(FakePaymentGateway):
    """A channel whose query answers a fen more than the order was for."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("wechat", MERCHANT, clock)

    def query(self, out_trade_no: str) -> ChannelPayment:
        seen = super().query(out_trade_no)
        return replace(seen, amount_fen=seen.amount_fen + 1)


def test_one_order_that_cannot_be_closed_does_not_stop_the_others(app: Flask, session: Session, clock: Clock) -> None:
    gateway = Troubled(clock)
    sweeper = Sweeper(gateway_for=lambda _p: gateway, notify_url_for=callback_of, clock=clock)
    orders = []
    for _ in range(6):  # each expiring a second after the one before
        orders.append(open_order(session, gateway, clock))
        clock.advance(seconds=1)
    paid_late, first, refused, second, unreachable, third = orders
    gateway.pay(paid_late.out_trade_no)  # at the last moment; its notification is lost
    gateway.refusing.add(refused.out_trade_no)
    gateway.unreachable.add(unreachable.out_trade_no)
    clock.advance(minutes=10)
    assert close_expired_orders(session, sweeper) == 3
    assert [payment(app, order.out_trade_no).status for order in orders] == [
        statuses.PAID,
        statuses.CLOSED,
        statuses.CREATED,
        statuses.CLOSED,
        statuses.CREATED,
        statuses.CLOSED,
    ]


class Troubled(FakePaymentGateway):
    """A channel that refuses to close some orders and cannot be reached about others."""

    def __init__(self, clock: Clock) -> None:
        super().__init__("wechat", MERCHANT, clock)
        self.refusing: set[str] = set()
        self.unreachable: set[str] = set()

    def close(self, out_trade_no: str) -> None:
        if out_trade_no in self.refusing:
            raise UpstreamRejected("billing.order_conflict", "The channel refused.", "conflict")
        if out_trade_no in self.unreachable:
            raise UpstreamUnavailable("billing.channel_unavailable", "The payment channel cannot be reached.")
        super().close(out_trade_no)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        if out_refund_no in self.unreachable:
            raise UpstreamUnavailable("billing.channel_unavailable", "The payment channel cannot be reached.")
        return super().query_refund(out_trade_no, out_refund_no)


def test_a_settled_order_is_never_asked_to_close_when_its_time_is_up(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    paid = paid_order(app, session, gateway, clock)
    clock.advance(minutes=11)
    assert close_expired_orders(session, sweeper) == 0
    assert [call for call, _ in gateway.calls] == ["create"]
    assert payment(app, paid.out_trade_no).status == statuses.PAID


def test_a_pass_closes_at_most_a_batch_and_the_next_pass_the_rest(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    for _ in range(BATCH + 1):
        open_order(session, gateway, clock)
    clock.advance(minutes=11)
    assert close_expired_orders(session, sweeper) == BATCH
    assert close_expired_orders(session, sweeper) == 1


# PostgreSQL only: SQLite's write lock serialises workers, so there is no held row to skip.
@pytest.mark.parametrize("database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True)
def test_a_sweep_skips_an_order_another_worker_holds_instead_of_waiting(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock, database_url: str
) -> None:
    held, free = open_order(session, gateway, clock), open_order(session, gateway, clock)
    clock.advance(minutes=11)
    with held_by_another_worker(app, select(Payment).where(Payment.id == held.id)):
        with impatient_session(database_url) as db:
            assert close_expired_orders(db, sweeper) == 1
    assert (payment(app, held.out_trade_no).status, payment(app, free.out_trade_no).status) == (
        statuses.CREATED,
        statuses.CLOSED,
    )


def test_only_refunds_processing_for_five_minutes_are_polled(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = paid_order(app, session, gateway, clock)
    processing = ask_refund(app, gateway, order.id, clock, 500)
    gateway.refusing_refunds = True
    ask_refund(app, gateway, order.id, clock, 500)  # failed
    gateway.refusing_refunds, gateway.down = False, True
    ask_refund(app, gateway, order.id, clock, 500)  # requested
    gateway.down = False
    settled = ask_refund(app, gateway, order.id, clock, 500)
    with app.extensions["session_factory"]() as db:
        record_refund_answer(db, settled.id, ChannelRefund(settled.out_refund_no, REFUND_SUCCEEDED), clock())
    gateway.calls.clear()
    clock.advance(seconds=REFUND_POLL_AFTER.total_seconds() - 1)
    assert poll_refunds(session, sweeper) == 0
    clock.advance(seconds=1)
    assert poll_refunds(session, sweeper) == 1
    assert gateway.calls == [("query_refund", processing.out_refund_no)]


def test_only_refunds_the_channel_never_accepted_are_asked_again(
    app: Flask, session: Session, gateway: FakePaymentGateway, sweeper: Sweeper, clock: Clock
) -> None:
    order = paid_order(app, session, gateway, clock)
    ask_refund(app, gateway, order.id, clock, 500)  # processing
    gateway.refusing_refunds = True
    ask_refund(app, gateway, order.id, clock, 500)  # failed
    gateway.refusing_refunds, gateway.down = False, True
    waiting = ask_refund(app, gateway, order.id, clock, 500)
    gateway.down = False
    gateway.calls.clear()
    clock.advance(seconds=REFUND_RETRY_AFTER.total_seconds())
    assert retry_refunds(session, sweeper) == 1
    assert gateway.calls == [("refund", waiting.out_refund_no)]


def test_a_refund_the_channel_cannot_be_asked_about_does_not_stop_the_others(
    app: Flask, session: Session, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    gateway = Troubled(clock)
    sweeper = Sweeper(gateway_for=lambda _p: gateway, notify_url_for=callback_of, clock=clock)
    order = paid_order(app, session, gateway, clock)
    unanswered = ask_refund(app, gateway, order.id, clock, 500)
    clock.advance(seconds=1)
    answered = ask_refund(app, gateway, order.id, clock, 500)
    gateway.unreachable.add(unanswered.out_refund_no)
    gateway.settle_refund(order.out_trade_no, unanswered.out_refund_no)
    gateway.settle_refund(order.out_trade_no, answered.out_refund_no)
    clock.advance(seconds=REFUND_POLL_AFTER.total_seconds())
    caplog.set_level(logging.WARNING, logger="citytiles.billing")
    assert poll_refunds(session, sweeper) == 2
    assert (refund_status(session, unanswered.id), refund_status(session, answered.id)) == (
        statuses.PROCESSING,
        statuses.SUCCEEDED,
    )
    assert [(r.getMessage(), getattr(r, "code", None)) for r in caplog.records] == [
        ("a refund's state could not be asked now", "billing.channel_unavailable")
    ]
