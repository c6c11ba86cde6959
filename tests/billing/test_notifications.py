"""Payment notifications: received only once applied, applied exactly once, and never acknowledged when wrong."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.orm import Session

from billing import statuses
from billing.fake import Delivery
from billing.fake import FakePaymentGateway
from billing.gateway import CLOSED
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import Notice
from billing.ledger import balance
from billing.ledger import unbalanced_entries
from billing.models import NotificationNonce
from billing.models import OutboxTask
from billing.models import Payment
from billing.models import PaymentNotification
from billing.models import Refund
from billing.notifications import forget_old_deliveries
from billing.notifications import movable_to_paid
from billing.payments import open_payment
from billing.payments import payment_of
from billing.refunds import request_refund
from database import transaction
from errors import NotFound
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Stamping
from tests.billing.world import add_resident
from tests.billing.world import charge
from tests.billing.world import deliver
from tests.billing.world import entries
from tests.billing.world import open_order
from tests.billing.world import payment
from tests.concurrency import run_together
from tests.conftest import Clock


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


def test_an_order_is_recorded_then_placed_once_and_asking_again_answers_the_same(
    session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    wanted = charge(add_resident(session, clock), clock, 2500)
    first = open_payment(session, gateway, wanted, clock)
    again = open_payment(session, gateway, wanted, clock)
    assert (first.id, first.status, first.amount_fen) == (again.id, statuses.CREATED, 2500)
    assert first.checkout is not None and first.checkout["tradeNO"] == first.checkout["reference"]
    assert [call for call, _ in gateway.calls] == ["create"]
    assert payment_of(session, frozenset({wanted.resident_id}), first.public_id).id == first.id
    with pytest.raises(NotFound):
        payment_of(session, frozenset({wanted.resident_id + 1}), first.public_id)


def test_an_unreachable_channel_leaves_the_order_recorded_and_the_next_try_places_it(
    session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    wanted = charge(add_resident(session, clock), clock)
    gateway.down = True
    with pytest.raises(Exception, match="cannot be reached"):
        open_payment(session, gateway, wanted, clock)
    gateway.down = False
    placed = open_payment(session, gateway, wanted, clock)
    assert placed.checkout is not None and placed.status == statuses.CREATED


def test_a_paid_notification_is_applied_posted_and_queued_once(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock, 2500)
    receipt = deliver(app, gateway, gateway.pay(order.out_trade_no), clock)
    assert (receipt.received, receipt.outcome) == (True, "applied")
    paid = payment(app, order.out_trade_no)
    assert (paid.status, paid.paid_at, paid.channel_trade_no) == (statuses.PAID, clock(), order.checkout["reference"])
    assert balance(session, f"clearing:wechat:{MERCHANT}") == 2500
    assert balance(session, "revenue:330100:outpatient") == -2500
    assert session.scalars(select(OutboxTask.ref).where(OutboxTask.kind == "fulfil")).all() == [order.out_trade_no]
    stored = session.scalars(select(PaymentNotification)).one()
    assert (stored.outcome, stored.copies, stored.kind) == ("applied", 1, "payment")
    assert order.out_trade_no not in stored.raw_sealed  # it names the payer: sealed, not readable at rest

    # The channel sends it again (a fresh delivery, signed afresh): received, nothing more happens.
    again = deliver(app, gateway, gateway.payment_notification(order.out_trade_no), clock)
    assert (again.received, again.outcome) == (True, "duplicate")
    assert entries(app, order.id) == 1 and balance(session, f"clearing:wechat:{MERCHANT}") == 2500
    session.rollback()
    assert session.scalars(select(PaymentNotification.copies)).one() == 2


def forged(delivery: Delivery, **headers: str) -> Delivery:
    return Delivery({**delivery.headers, **headers}, delivery.body)


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        (lambda d: Delivery(d.headers, d.body.replace(b"2500", b"2501")), "bad_signature"),
        (lambda d: forged(d, **{"X-Fake-Signature": "0" * 64}), "bad_signature"),
        (lambda d: forged(d, **{"X-Fake-Nonce": "another"}), "bad_signature"),
        (lambda d: Delivery({}, d.body), "bad_signature"),
    ],
)
def test_a_forged_notification_is_refused_logged_and_changes_nothing(
    app: Flask,
    session: Session,
    gateway: FakePaymentGateway,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    tamper,
    reason,
) -> None:
    order = open_order(session, gateway, clock)
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        receipt = deliver(app, gateway, tamper(gateway.pay(order.out_trade_no)), clock)
    assert (receipt.received, receipt.outcome) == (False, reason)
    refusals = [(r.getMessage(), r.channel, r.reason) for r in caplog.records if r.name == "citytiles.security"]
    assert refusals == [("payment notification refused", "wechat", reason)]
    assert payment(app, order.out_trade_no).status == statuses.CREATED and entries(app, order.id) == 0


def test_a_replayed_delivery_and_a_stale_one_are_refused(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    order = open_order(session, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    assert deliver(app, gateway, delivery, clock).received
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        replay = deliver(app, gateway, delivery, clock)
    assert (replay.received, replay.outcome) == (False, "replayed")
    refusals = [(r.getMessage(), r.channel, r.reason) for r in caplog.records if r.name == "citytiles.security"]
    assert refusals == [("payment notification refused", "wechat", "replayed")]
    late = gateway.payment_notification(order.out_trade_no)
    clock.advance(minutes=5, seconds=1)
    assert deliver(app, gateway, late, clock).outcome == "stale"
    # Replay records outlive the freshness window, then go.
    forget_old_deliveries(session, clock())
    assert session.scalar(text("SELECT count(*) FROM notification_nonces")) == 1
    clock.advance(minutes=4, seconds=59)
    forget_old_deliveries(session, clock())  # exactly 10 min after it was seen: kept
    assert session.scalar(text("SELECT count(*) FROM notification_nonces")) == 1
    clock.advance(seconds=1)
    forget_old_deliveries(session, clock())
    assert session.scalar(text("SELECT count(*) FROM notification_nonces")) == 0


def test_a_delivery_signed_up_to_five_minutes_either_side_of_our_clock_is_fresh(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    first, second, third = (open_order(session, gateway, clock) for _ in range(3))
    for order in (first, second, third):
        gateway.pay(order.out_trade_no)
    now = clock()
    clock.now = now - timedelta(minutes=5)
    old = gateway.payment_notification(first.out_trade_no)
    clock.now = now + timedelta(minutes=5)
    ahead = gateway.payment_notification(second.out_trade_no)
    clock.now = now + timedelta(minutes=5, seconds=1)
    too_far_ahead = gateway.payment_notification(third.out_trade_no)
    clock.now = now
    assert deliver(app, gateway, old, clock).outcome == "applied"
    assert deliver(app, gateway, ahead, clock).outcome == "applied"
    assert deliver(app, gateway, too_far_ahead, clock).outcome == "stale"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"amount_fen": 1}, "amount_mismatch"),
        ({"app_id": "wx0000000000000000"}, "app_mismatch"),
        ({"merchant_id": "1900000999"}, "merchant_mismatch"),
        ({"currency": "USD"}, "currency_mismatch"),
    ],
)
def test_a_validly_signed_notification_that_is_not_our_order_is_refused(
    app: Flask,
    session: Session,
    gateway: FakePaymentGateway,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    change: dict[str, object],
    reason: str,
) -> None:
    order = open_order(session, gateway, clock)
    gateway.pay(order.out_trade_no)
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        receipt = deliver(app, gateway, gateway.payment_notification(order.out_trade_no, **change), clock)
    assert (receipt.received, receipt.outcome) == (False, reason)
    assert [
        (r.getMessage(), r.channel, r.reason, r.out_trade_no) for r in caplog.records if r.name == "citytiles.security"
    ] == [("payment notification does not match our order", "wechat", reason, order.out_trade_no)]
    assert payment(app, order.out_trade_no).status == statuses.CREATED and entries(app, order.id) == 0


def test_another_channels_gateway_cannot_settle_an_order(app: Flask, session: Session, clock: Clock) -> None:
    wechat = FakePaymentGateway("wechat", MERCHANT, clock)
    alipay = FakePaymentGateway("alipay", MERCHANT, clock)
    order = open_order(session, wechat, clock)
    alipay.create(wechat._known(order.out_trade_no).order)
    receipt = deliver(app, alipay, alipay.pay(order.out_trade_no), clock)
    assert (receipt.received, receipt.outcome) == (False, "merchant_mismatch")


def test_a_notification_for_an_order_we_do_not_have_is_not_acknowledged(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    order = open_order(session, gateway, clock)
    stranger = gateway.payment_notification(order.out_trade_no, **{"out_trade_no": "ct" + "0" * 24})
    with caplog.at_level(logging.WARNING, logger="citytiles.billing"):
        receipt = deliver(app, gateway, stranger, clock)
    assert (receipt.received, receipt.outcome) == (False, "unknown_order")
    assert [(r.getMessage(), r.channel) for r in caplog.records if r.name == "citytiles.billing"] == [
        ("a notification named an order we do not have", "wechat")
    ]


def test_a_garbled_body_is_refused(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock) -> None:
    order = open_order(session, gateway, clock)
    odd = gateway.payment_notification(order.out_trade_no, unexpected="field")
    assert deliver(app, gateway, odd, clock).outcome == "garbled"


def test_a_payment_after_the_order_closed_still_counts(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    closed = gateway.payment_notification(order.out_trade_no, state=CLOSED)
    assert deliver(app, gateway, closed, clock).outcome == "applied"
    assert payment(app, order.out_trade_no).status == statuses.CLOSED
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).outcome == "applied"
    assert payment(app, order.out_trade_no).status == statuses.PAID and entries(app, order.id) == 1
    # A late "closed" cannot undo money that moved.
    assert deliver(app, gateway, closed_again(gateway, order.out_trade_no), clock).outcome == "duplicate"
    assert payment(app, order.out_trade_no).status == statuses.PAID


def test_a_success_moves_a_payment_to_paid_only_from_where_the_status_table_allows() -> None:
    # The first try on PostgreSQL moves these in one statement; every other status goes the long way.
    assert movable_to_paid() == (statuses.CREATED, statuses.CLOSED, statuses.FAILED)


def closed_again(gateway: FakePaymentGateway, out_trade_no: str) -> Delivery:
    return gateway.payment_notification(out_trade_no, state=CLOSED, event_id="close-" + out_trade_no)


def test_fifty_copies_at_once_make_one_transition_and_one_posting(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock, 4200)
    gateway.pay(order.out_trade_no)
    copies = [gateway.payment_notification(order.out_trade_no) for _ in range(50)]
    receipts = run_together(50, lambda i: deliver(app, gateway, copies[i], clock))
    assert all(receipt.received for receipt in receipts), {r.outcome for r in receipts}
    assert sorted(r.outcome for r in receipts) == ["applied"] + ["duplicate"] * 49
    assert entries(app, order.id) == 1 and payment(app, order.out_trade_no).status == statuses.PAID
    assert balance(session, f"clearing:wechat:{MERCHANT}") == 4200
    assert session.scalar(select(PaymentNotification.copies)) == 50
    assert unbalanced_entries(session) == []


def test_sixty_copies_of_one_delivery_at_once_apply_once_and_the_rest_are_replays(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    # The same signed bytes sixty times at one instant: on PostgreSQL they all race the one statement.
    order = open_order(session, gateway, clock, 4300)
    delivery = gateway.pay(order.out_trade_no)
    receipts = run_together(60, lambda _: deliver(app, gateway, delivery, clock))
    assert sorted((r.received, r.outcome) for r in receipts) == [(False, "replayed")] * 59 + [(True, "applied")]
    assert entries(app, order.id) == 1 and payment(app, order.out_trade_no).status == statuses.PAID
    assert balance(session, "revenue:330100:outpatient") == -4300
    assert session.scalars(select(PaymentNotification.copies)).all() == [1]
    assert session.scalars(select(OutboxTask.ref)).all() == [order.out_trade_no]
    assert unbalanced_entries(session) == []


def test_the_ledger_refuses_to_be_rewritten(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no), clock)
    for statement in (
        "UPDATE ledger_lines SET amount_fen = 1",
        "DELETE FROM ledger_lines",
        "DELETE FROM ledger_entries",
    ):
        with pytest.raises(DatabaseError, match="append-only"), transaction(session):
            session.execute(text(statement))
    assert balance(session, f"clearing:wechat:{MERCHANT}") == 2500


def test_an_unbalanced_entry_is_found_and_never_posted(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    from billing.ledger import Unbalanced
    from billing.ledger import post

    order = open_order(session, gateway, clock)
    deliver(app, gateway, gateway.pay(order.out_trade_no), clock)
    for lines in ([("a", 5), ("b", -4)], [("a", 0), ("b", 0)], [("a", 5), ("b", -5), ("c", 0)], []):
        with pytest.raises(Unbalanced), transaction(session):
            post(session, "bad", "test", lines, clock())
    assert unbalanced_entries(session) == []
    # Written past the ledger's own check (as a bug or a hand would): the audit query names it.
    with transaction(session):
        session.execute(
            text("INSERT INTO ledger_entries (key, kind, posted_at) VALUES ('forged', 'x', :at)"), {"at": clock()}
        )
        entry = session.scalar(text("SELECT id FROM ledger_entries WHERE key = 'forged'"))
        session.execute(
            text("INSERT INTO ledger_lines (entry_id, account, amount_fen) VALUES (:e, 'a', 7), (:e, 'b', -6)"),
            {"e": entry},
        )
    assert unbalanced_entries(session) == ["forged"]


def test_a_payment_is_found_only_by_its_own_people_and_a_well_formed_id(
    session: Session, gateway: FakePaymentGateway, clock: Clock
) -> None:
    order = open_order(session, gateway, clock)
    assert order.resident_id is not None
    mine = frozenset({order.resident_id})
    assert payment_of(session, mine, order.public_id).id == order.id
    for public_id in (order.public_id.upper(), order.public_id + "0", order.public_id[:-1], "x" + order.public_id[1:]):
        with pytest.raises(NotFound) as refused:
            payment_of(session, mine, public_id)
        assert refused.value.code == "billing.payment_not_found"
    with pytest.raises(NotFound):
        payment_of(session, frozenset({order.resident_id + 1}), order.public_id)


def test_a_paid_order_keeps_the_time_the_channel_says_the_money_moved(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = Stamping(clock)
    order = open_order(session, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    moved_at = clock() - timedelta(seconds=40)
    gateway.moved_at = moved_at
    clock.advance(minutes=1)
    assert deliver(app, gateway, delivery, clock).outcome == "applied"
    paid = payment(app, order.out_trade_no)
    assert (paid.status, paid.paid_at, paid.updated_at) == (statuses.PAID, moved_at, clock())


def paid_order(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock) -> Payment:
    """An order of 25 yuan, paid and applied."""
    order = open_order(session, gateway, clock)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return order


def refund_of(app: Flask, gateway: FakePaymentGateway, order: Payment, amount_fen: int, clock: Clock) -> Refund:
    """A refund asked for on a paid order and accepted by the channel."""
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        asked = request_refund(db, gateway, order.id, amount_fen, "cancelled", "saga:test", NOTIFY_URL, clock)
    assert asked.status == statuses.PROCESSING
    return asked


def test_a_refund_notification_settles_the_refund_with_the_channels_number_and_time(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = Stamping(clock)
    order = paid_order(app, session, gateway, clock)
    asked = refund_of(app, gateway, order, 1000, clock)
    delivery = gateway.settle_refund(order.out_trade_no, asked.out_refund_no)
    moved_at = clock() - timedelta(seconds=30)
    gateway.moved_at = moved_at
    clock.advance(minutes=1)
    assert deliver(app, gateway, delivery, clock).outcome == "applied"
    session.rollback()
    settled = session.get(Refund, asked.id)
    assert settled is not None
    assert (settled.status, settled.channel_refund_id, settled.settled_at) == (
        statuses.SUCCEEDED,
        "fr" + asked.out_refund_no[-8:],
        moved_at,
    )
    kept = session.scalars(select(PaymentNotification).where(PaymentNotification.kind == "refund")).one()
    assert (kept.payment_id, kept.out_refund_no, kept.outcome) == (order.id, asked.out_refund_no, "applied")
    assert payment(app, order.out_trade_no).refunded_fen == 1000


@pytest.mark.parametrize("naming", ["an unknown refund", "another payment's refund", "our refund with another amount"])
def test_a_refund_notification_that_is_not_our_refund_is_refused_and_settles_nothing(
    app: Flask,
    session: Session,
    gateway: FakePaymentGateway,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
    naming: str,
) -> None:
    order, other = paid_order(app, session, gateway, clock), paid_order(app, session, gateway, clock)
    ours, theirs = refund_of(app, gateway, order, 1000, clock), refund_of(app, gateway, other, 1000, clock)
    named, refund_fen = {
        "an unknown refund": ("rf" + "0" * 30, 1000),
        "another payment's refund": (theirs.out_refund_no, 1000),
        "our refund with another amount": (ours.out_refund_no, 999),
    }[naming]
    notice = gateway.payment_notification(
        order.out_trade_no,
        kind="refund",
        event_id="refund-" + named,
        state=REFUND_SUCCEEDED,
        out_refund_no=named,
        refund_fen=refund_fen,
        channel_refund_id="fr00000001",
    )
    with caplog.at_level(logging.WARNING, logger="citytiles.security"):
        receipt = deliver(app, gateway, notice, clock)
    assert (receipt.received, receipt.outcome) == (False, "refund_mismatch")
    assert [(r.getMessage(), r.channel, r.out_trade_no) for r in caplog.records if r.name == "citytiles.security"] == [
        ("refund notification does not match our refund", "wechat", order.out_trade_no)
    ]
    session.rollback()
    assert session.scalars(select(Refund.status).order_by(Refund.id)).all() == [statuses.PROCESSING] * 2
    assert [payment(app, paid.out_trade_no).refunded_fen for paid in (order, other)] == [0, 0]


class LongDeliveryIds(FakePaymentGateway):
    """A channel naming each delivery at more length than we keep."""

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        notice = super().parse_notification(headers, body)
        return replace(notice, delivery=notice.delivery.ljust(200, "~"))


def test_a_long_delivery_id_is_remembered_by_as_much_as_we_keep(app: Flask, session: Session, clock: Clock) -> None:
    gateway = LongDeliveryIds("wechat", MERCHANT, clock)
    order = open_order(session, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    assert deliver(app, gateway, delivery, clock).outcome == "applied"
    assert deliver(app, gateway, delivery, clock).outcome == "replayed"
    named = f"{delivery.headers['X-Fake-Timestamp']}:{delivery.headers['X-Fake-Nonce']}"
    assert session.scalars(select(NotificationNonce.nonce)).all() == [named.ljust(128, "~")]
