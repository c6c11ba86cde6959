"""Refunds: never more than remains, numbered before the channel hears of them, settled once."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from billing import statuses
from billing.fake import FakePaymentGateway
from billing.gateway import REFUND_FAILED
from billing.gateway import REFUND_PROCESSING
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import ChannelRefund
from billing.gateway import RefundOrder
from billing.ledger import balance
from billing.ledger import entries_of
from billing.models import Payment
from billing.models import Refund
from billing.refunds import MAX_REFUNDS_PER_PAYMENT
from billing.refunds import ask_channel
from billing.refunds import record_refund_answer
from billing.refunds import request_refund
from database import transaction
from errors import Conflict
from errors import Invalid
from errors import NotFound
from identity.models import Resident
from identity.residents import erase_resident
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Recording
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.concurrency import run_together
from tests.conftest import Clock

CLEARING = f"clearing:wechat:{MERCHANT}"


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


def paid_order(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500) -> int:
    order = open_order(session, gateway, clock, amount_fen)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return order.id


def refund(app: Flask, gateway: FakePaymentGateway, payment_id: int, amount_fen: int, clock: Clock) -> Refund:
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        return request_refund(db, gateway, payment_id, amount_fen, "hospital refused", "saga:test", NOTIFY_URL, clock)


def test_a_partial_then_the_rest_refunds_the_whole_and_the_books_follow(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    first = refund(app, gateway, payment_id, 1000, clock)
    assert first.status == statuses.PROCESSING and first.out_refund_no.startswith("rf")
    assert session.scalar(select(Refund.payment_id).where(Refund.id == first.id)) == payment_id
    paid = _payment(app, payment_id)
    assert deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, first.out_refund_no), clock).outcome == (
        "applied"
    )
    assert _payment(app, payment_id).status == statuses.PARTIALLY_REFUNDED
    session.rollback()  # end this session's earlier read: what follows reads what the others wrote
    assert balance(session, CLEARING) == 1500
    rest = refund(app, gateway, payment_id, 1500, clock)
    deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, rest.out_refund_no), clock)
    after = _payment(app, payment_id)
    assert (after.status, after.refunded_fen) == (statuses.REFUNDED, 2500)
    session.rollback()
    assert balance(session, CLEARING) == 0 and balance(session, "revenue:330100:outpatient") == 0
    assert [entry.kind for entry, _ in entries_of(session, payment_id)] == ["payment", "refund", "refund"]
    with pytest.raises(Conflict) as refused:
        refund(app, gateway, payment_id, 1, clock)
    assert refused.value.code == "billing.not_refundable"


def _payment(app: Flask, payment_id: int) -> Payment:
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        row = db.get(Payment, payment_id)
        assert row is not None
        return row


def test_a_refund_over_what_remains_says_how_much_remains(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    refund(app, gateway, payment_id, 2000, clock)
    with pytest.raises(Conflict) as refused:
        refund(app, gateway, payment_id, 501, clock)
    assert (refused.value.code, refused.value.details) == (
        "billing.refund_exceeds_available",
        {"amount_available": 500},
    )
    with pytest.raises(Invalid):
        refund(app, gateway, payment_id, 0, clock)


def test_an_unpaid_payment_cannot_be_refunded(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    with pytest.raises(Conflict) as refused:
        refund(app, gateway, order.id, 100, clock)
    assert refused.value.details == {"status": "created"}


def test_concurrent_refunds_that_together_exceed_the_payment_only_those_that_fit_succeed(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock, 1000)

    def attempt(_: int) -> str:
        try:
            return refund(app, gateway, payment_id, 300, clock).status
        except Conflict as refused:
            return refused.code

    outcomes = run_together(8, attempt)
    assert sorted(outcomes) == ["billing.refund_exceeds_available"] * 5 + [statuses.PROCESSING] * 3
    held = session.scalars(select(Refund.amount_fen).where(Refund.payment_id == payment_id)).all()
    assert sum(held) == 900


def test_a_refund_the_channel_could_not_take_is_asked_again_with_the_same_number(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    gateway.down = True
    answered = refund(app, gateway, payment_id, 700, clock)
    assert answered.status == statuses.REQUESTED  # recorded, answered as it stands: a retry must not mint another
    waiting = session.scalars(select(Refund).where(Refund.payment_id == payment_id)).one()
    assert waiting.status == statuses.REQUESTED  # visible, holding its amount, to be asked again
    gateway.down = False
    with app.extensions["session_factory"]() as db:
        asked = ask_channel(db, gateway, waiting.id, NOTIFY_URL, clock)
        assert asked.status == statuses.PROCESSING
    assert [ref for call, ref in gateway.calls if call == "refund"] == [waiting.out_refund_no] * 2


def test_a_refused_refund_frees_its_amount_and_a_late_failure_never_undoes_a_success(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock, 1000)
    first = refund(app, gateway, payment_id, 1000, clock)
    paid = _payment(app, payment_id)
    deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, first.out_refund_no, succeed=False), clock)
    with app.extensions["session_factory"]() as db:
        assert db.get(Refund, first.id).status == statuses.REFUND_FAILED
    second = refund(app, gateway, payment_id, 1000, clock)
    deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, second.out_refund_no), clock)
    with app.extensions["session_factory"]() as db:
        late = record_refund_answer(db, second.id, ChannelRefund(second.out_refund_no, "failed"), clock())
        assert late.status == statuses.SUCCEEDED
        again = record_refund_answer(db, second.id, ChannelRefund(second.out_refund_no, REFUND_SUCCEEDED), clock())
        assert again.status == statuses.SUCCEEDED
    assert len(entries_of(session, payment_id)) == 2 and _payment(app, payment_id).refunded_fen == 1000


def test_a_payment_is_refunded_at_most_fifty_times(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock, 100)
    for _ in range(MAX_REFUNDS_PER_PAYMENT):
        refund(app, gateway, payment_id, 1, clock)
    with pytest.raises(Conflict) as refused:
        refund(app, gateway, payment_id, 1, clock)
    assert refused.value.code == "billing.too_many_refunds"


def test_erasing_the_payer_keeps_the_payment_in_the_books_without_them(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    resident_id = _payment(app, payment_id).resident_id
    with app.extensions["session_factory"]() as db:
        resident = db.get(Resident, resident_id)
        assert resident is not None
        erase_resident(db, resident, now=clock(), erasers=app.extensions["erasers"])
    kept = _payment(app, payment_id)
    assert (kept.resident_id, kept.status, kept.amount_fen) == (None, statuses.PAID, 2500)
    session.rollback()
    assert balance(session, CLEARING) == 2500


def test_once_per_requester_answers_the_open_refund_and_counts_a_refused_one_as_none(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock, 1000)

    def once() -> Refund:
        with app.extensions["session_factory"](expire_on_commit=False) as db:
            return request_refund(db, gateway, payment_id, 400, "cancelled", "resident", NOTIFY_URL, clock, once=True)

    gateway.refusing_refunds = True
    assert once().status == statuses.REFUND_FAILED
    gateway.refusing_refunds = False
    first = once()
    assert first.status == statuses.PROCESSING
    assert run_together(4, lambda _: once().id) == [first.id] * 4
    session.rollback()
    assert len(session.scalars(select(Refund).where(Refund.payment_id == payment_id)).all()) == 2


def test_the_channel_is_asked_for_exactly_the_refund_recorded(app: Flask, session: Session, clock: Clock) -> None:
    gateway = Recording(clock)
    payment_id = paid_order(app, session, gateway, clock)
    clock.advance(minutes=5)
    asked = refund(app, gateway, payment_id, 2500, clock)  # all that remains is not more than remains
    paid = _payment(app, payment_id)
    assert gateway.refunds == [
        RefundOrder(paid.out_trade_no, asked.out_refund_no, 2500, 2500, "hospital refused", NOTIFY_URL)
    ]
    assert re.fullmatch(r"rf[0-9a-f]{30}", asked.out_refund_no)
    assert (asked.reason, asked.requested_by, asked.created_at, asked.updated_at) == (
        "hospital refused",
        "saga:test",
        clock(),
        clock(),
    )
    assert (asked.status, asked.settled_at, asked.channel_refund_id) == (statuses.PROCESSING, None, None)


def test_a_settled_refund_keeps_the_channels_time_and_number_or_ours(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = Recording(clock)
    payment_id = paid_order(app, session, gateway, clock)
    first = refund(app, gateway, payment_id, 1000, clock)
    settled_at = clock() - timedelta(seconds=30)
    answer = ChannelRefund(first.out_refund_no, REFUND_SUCCEEDED, "50300000012026", settled_at)
    clock.advance(minutes=1)
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        done = record_refund_answer(db, first.id, answer, clock())
    assert (done.status, done.channel_refund_id, done.settled_at, done.updated_at) == (
        statuses.SUCCEEDED,
        "50300000012026",
        settled_at,
        clock(),
    )
    paid = _payment(app, payment_id)
    assert (paid.status, paid.refunded_fen, paid.updated_at) == (statuses.PARTIALLY_REFUNDED, 1000, clock())
    gateway.down = True  # the channel does not answer: the refund stays asked for, with its number
    second = refund(app, gateway, payment_id, 1500, clock)
    assert second.status == statuses.REQUESTED
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        record_refund_answer(db, second.id, ChannelRefund(second.out_refund_no, REFUND_PROCESSING, "5030002"), clock())
        # The channel's number, once known, is kept when a later answer leaves it out; no time given is ours.
        done = record_refund_answer(db, second.id, ChannelRefund(second.out_refund_no, REFUND_SUCCEEDED), clock())
    assert (done.channel_refund_id, done.settled_at) == ("5030002", clock())
    assert (_payment(app, payment_id).status, _payment(app, payment_id).refunded_fen) == (statuses.REFUNDED, 2500)


def test_a_refund_of_nothing_is_invalid_and_says_what_a_refund_is(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    for amount_fen in (0, -100):
        with pytest.raises(Invalid) as refused:
            refund(app, gateway, payment_id, amount_fen, clock)
        assert (refused.value.code, refused.value.message, refused.value.details) == (
            "billing.refund_amount_invalid",
            "A refund is a positive amount in fen.",
            {"amount_fen": "positive"},
        )
    session.rollback()
    assert session.scalars(select(Refund)).all() == []


def test_a_payment_or_refund_we_do_not_have_is_not_found_with_its_code(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    with pytest.raises(NotFound) as no_payment:
        refund(app, gateway, 404, 100, clock)
    assert (no_payment.value.code, no_payment.value.message) == ("billing.payment_not_found", "No such payment.")
    with app.extensions["session_factory"]() as db:
        with pytest.raises(NotFound) as not_asked:
            ask_channel(db, gateway, 404, NOTIFY_URL, clock)
        with pytest.raises(NotFound) as not_answered:
            record_refund_answer(db, 404, ChannelRefund("rf404", REFUND_SUCCEEDED), clock())
    for missing in (not_asked.value, not_answered.value):
        assert (missing.code, missing.message) == ("billing.refund_not_found", "No such refund.")
    assert gateway.calls == []


def test_once_per_requester_is_per_payment_and_per_requester(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    first_payment = paid_order(app, session, gateway, clock, 1000)
    second_payment = paid_order(app, session, gateway, clock, 1000)

    def once(payment_id: int, requested_by: str) -> Refund:
        with app.extensions["session_factory"](expire_on_commit=False) as db:
            return request_refund(db, gateway, payment_id, 400, "cancelled", requested_by, NOTIFY_URL, clock, once=True)

    by_saga = once(first_payment, "saga:test")
    by_resident = once(first_payment, "resident")
    elsewhere = once(second_payment, "resident")
    assert len({by_saga.id, by_resident.id, elsewhere.id}) == 3
    assert (by_resident.payment_id, elsewhere.payment_id) == (first_payment, second_payment)
    assert once(second_payment, "resident").id == elsewhere.id


def test_the_channels_refusal_and_silence_are_logged_with_its_code(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    caplog.set_level(logging.WARNING, logger="citytiles.billing")
    gateway.refusing_refunds = True
    refused = refund(app, gateway, payment_id, 100, clock)
    gateway.refusing_refunds, gateway.down = False, True
    waiting = refund(app, gateway, payment_id, 100, clock)
    assert (refused.status, waiting.status) == (statuses.REFUND_FAILED, statuses.REQUESTED)
    logged = [(r.getMessage(), getattr(r, "code", None), getattr(r, "out_refund_no", None)) for r in caplog.records]
    assert logged == [
        ("the channel refused a refund", "billing.refund_refused", refused.out_refund_no),
        ("a refund waits for the channel", "billing.channel_unavailable", None),
    ]


def test_only_a_failure_reported_after_a_success_is_logged_as_an_error(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    gateway.refusing_refunds = True
    refused = refund(app, gateway, payment_id, 1000, clock)
    gateway.refusing_refunds = False
    settled = refund(app, gateway, payment_id, 1000, clock)
    caplog.set_level(logging.ERROR, logger="citytiles.billing")
    caplog.clear()
    with app.extensions["session_factory"]() as db:
        for done, state in ((settled, REFUND_SUCCEEDED), (settled, REFUND_SUCCEEDED), (refused, REFUND_FAILED)):
            record_refund_answer(db, done.id, ChannelRefund(done.out_refund_no, state), clock())
        assert caplog.records == []  # the same word twice is no news
        late = record_refund_answer(db, settled.id, ChannelRefund(settled.out_refund_no, REFUND_FAILED), clock())
        assert late.status == statuses.SUCCEEDED
    assert [(r.getMessage(), getattr(r, "out_refund_no", None)) for r in caplog.records] == [
        ("a channel reported a succeeded refund as failed", settled.out_refund_no)
    ]


def test_a_refund_notification_after_the_refund_settled_is_a_duplicate(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    asked = refund(app, gateway, payment_id, 1000, clock)
    paid = _payment(app, payment_id)
    assert deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, asked.out_refund_no), clock).outcome == (
        "applied"
    )
    again = deliver(app, gateway, gateway.settle_refund(paid.out_trade_no, asked.out_refund_no), clock)
    assert (again.received, again.outcome) == (True, "duplicate")
    assert _payment(app, payment_id).refunded_fen == 1000 and len(entries_of(session, payment_id)) == 2


def test_a_refund_never_settles_on_a_payment_that_no_longer_takes_one(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    payment_id = paid_order(app, session, gateway, clock)
    asked = refund(app, gateway, payment_id, 1000, clock)
    with transaction(session):
        # A payment whose status the tables give no refund event (kept by hand, or by a bug elsewhere).
        session.execute(update(Payment).where(Payment.id == payment_id).values(status=statuses.CLOSED))
    with app.extensions["session_factory"]() as db, pytest.raises(Conflict) as refused:
        record_refund_answer(db, asked.id, ChannelRefund(asked.out_refund_no, REFUND_SUCCEEDED), clock())
    assert (refused.value.code, refused.value.message, refused.value.details) == (
        "billing.not_refundable",
        "Only a paid payment can be refunded.",
        {"status": statuses.CLOSED},
    )
    kept = _payment(app, payment_id)
    assert (kept.status, kept.refunded_fen) == (statuses.CLOSED, 0)
    session.rollback()
    assert session.scalar(select(Refund.status).where(Refund.id == asked.id)) == statuses.PROCESSING
    assert len(entries_of(session, payment_id)) == 1
