"""Payment and refund events in any order, copies and replays included: the books always hold."""

from __future__ import annotations

from flask import Flask
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine
from hypothesis.stateful import invariant
from hypothesis.stateful import precondition
from hypothesis.stateful import rule
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import func
from sqlalchemy import select

from billing import statuses
from billing.fake import Delivery
from billing.fake import FakePaymentGateway
from billing.gateway import CLOSED
from billing.gateway import FAILED
from billing.gateway import REFUND_FAILED
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import ChannelRefund
from billing.models import LedgerEntry
from billing.models import LedgerLine
from billing.models import OutboxTask
from billing.models import Payment
from billing.models import Refund
from billing.refunds import record_refund_answer
from billing.refunds import request_refund
from errors import Conflict
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import Clock

AMOUNT = 1000


def test_any_order_of_events_keeps_every_invariant(app: Flask, clock: Clock) -> None:
    sessions = app.extensions["session_factory"]

    class Payments(RuleBasedStateMachine):
        """One payment at a fake channel, driven by notifications, refunds and late answers."""

        def __init__(self) -> None:
            super().__init__()
            self.gateway = FakePaymentGateway("wechat", MERCHANT, clock)
            with sessions() as db:
                order = open_order(db, self.gateway, clock, AMOUNT)
                self.payment_id, self.out_trade_no = order.id, order.out_trade_no
            self.deliveries: list[Delivery] = []
            self.ever_paid = False

        def send(self, delivery: Delivery) -> None:
            self.deliveries.append(delivery)
            receipt = deliver(app, self.gateway, delivery, clock)
            assert receipt.received, receipt.outcome

        @rule()
        def payer_pays(self) -> None:
            self.send(self.gateway.pay(self.out_trade_no))
            self.ever_paid = True

        @rule()
        def a_copy_arrives(self) -> None:
            self.send(self.gateway.payment_notification(self.out_trade_no))
            if self.gateway.query(self.out_trade_no).state in ("paid", "refunded"):
                self.ever_paid = True

        @rule(state=st.sampled_from([CLOSED, FAILED]))
        def the_order_ends_unpaid(self, state: str) -> None:
            self.send(self.gateway.payment_notification(self.out_trade_no, state=state, event_id=f"{state}-x"))

        @precondition(lambda self: bool(self.deliveries))
        @rule(data=st.data())
        def an_old_delivery_is_replayed(self, data: st.DataObject) -> None:
            old = data.draw(st.sampled_from(self.deliveries))
            receipt = deliver(app, self.gateway, old, clock)
            assert (receipt.received, receipt.outcome) == (False, "replayed")

        @rule(amount=st.integers(min_value=1, max_value=AMOUNT + 1))
        def someone_refunds(self, amount: int) -> None:
            with sessions() as db:
                try:
                    request_refund(db, self.gateway, self.payment_id, amount, "test", "staff:1", NOTIFY_URL, clock)
                except Conflict as refused:
                    assert refused.code in {"billing.not_refundable", "billing.refund_exceeds_available"}

        @rule(data=st.data(), succeed=st.booleans())
        def the_channel_settles_a_refund(self, data: st.DataObject, succeed: bool) -> None:
            waiting = self.refunds(statuses.PROCESSING)
            if waiting:
                number = data.draw(st.sampled_from(waiting))
                self.send(self.gateway.settle_refund(self.out_trade_no, number, succeed=succeed))

        @rule(data=st.data(), state=st.sampled_from([REFUND_SUCCEEDED, REFUND_FAILED]))
        def a_late_answer_about_a_refund(self, data: st.DataObject, state: str) -> None:
            done = self.refunds(statuses.SUCCEEDED, statuses.REFUND_FAILED)
            if done:
                number = data.draw(st.sampled_from(done))
                with sessions() as db:
                    refund_id = db.scalar(select(Refund.id).where(Refund.out_refund_no == number))
                    assert refund_id is not None
                    before = db.get(Refund, refund_id)
                    assert before is not None
                    was = before.status
                    after = record_refund_answer(db, refund_id, ChannelRefund(number, state), clock())
                    assert after.status == was  # a settled refund never changes

        def refunds(self, *wanted: str) -> list[str]:
            with sessions() as db:
                return list(
                    db.scalars(
                        select(Refund.out_refund_no)
                        .where(Refund.payment_id == self.payment_id, Refund.status.in_(wanted))
                        .order_by(Refund.id)
                    )
                )

        @invariant()
        def the_books_hold(self) -> None:
            with sessions() as db:
                payment = db.get(Payment, self.payment_id)
                assert payment is not None
                refunds = db.scalars(select(Refund).where(Refund.payment_id == self.payment_id)).all()
                succeeded = sum(r.amount_fen for r in refunds if r.status == statuses.SUCCEEDED)
                holding = sum(r.amount_fen for r in refunds if r.status in statuses.REFUND_HOLDS)
                assert payment.refunded_fen == succeeded <= holding <= payment.amount_fen
                expected = {
                    0: statuses.PAID,
                    payment.amount_fen: statuses.REFUNDED,
                }.get(succeeded, statuses.PARTIALLY_REFUNDED)
                if self.ever_paid:
                    assert payment.status == expected
                else:
                    assert payment.status in (statuses.CREATED, statuses.CLOSED, statuses.FAILED) and not refunds
                lines = db.execute(
                    select(LedgerEntry.kind, func.sum(LedgerLine.amount_fen), func.count())
                    .join(LedgerLine, LedgerLine.entry_id == LedgerEntry.id)
                    .where(LedgerEntry.payment_id == self.payment_id)
                    .group_by(LedgerEntry.id, LedgerEntry.kind)
                ).all()
                assert all(total == 0 and count == 2 for _, total, count in lines)  # every entry balances
                kinds = sorted(kind for kind, _, _ in lines)
                assert kinds.count("payment") == (1 if self.ever_paid else 0)
                assert kinds.count("refund") == sum(1 for r in refunds if r.status == statuses.SUCCEEDED)
                fulfil = db.scalar(
                    select(func.count())
                    .select_from(OutboxTask)
                    .where(OutboxTask.kind == "fulfil", OutboxTask.ref == self.out_trade_no)
                )
                assert fulfil == (1 if self.ever_paid else 0)

    run_state_machine_as_test(
        Payments, settings=settings(max_examples=20, stateful_step_count=12, deadline=None, database=None)
    )
