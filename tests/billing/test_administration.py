"""Finding payments as a channel admin: each filter narrows exactly as it says, within the admin's channels."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.administration import PaymentFilter
from billing.administration import find_payments
from billing.administration import payment_story
from billing.administration import refund_by_staff
from billing.fake import FakePaymentGateway
from billing.gateway import RefundOrder
from billing.models import Payment
from billing.models import Refund
from billing.refunds import request_refund
from database import transaction
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Recording
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Clock


def staff(role: str, channels: tuple[str, ...] = ()) -> StaffMember:
    return StaffMember(id=1, username="finance", role=role, channels=list(channels), cities=[], active=True)


def three_orders(session: Session, clock: Clock) -> list[Payment]:
    """Orders placed a minute apart, the middle one paid."""
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    placed = []
    for _ in range(3):
        placed.append(open_order(session, gateway, clock))
        clock.advance(minutes=1)
    with transaction(session):
        session.get(Payment, placed[1].id).status = statuses.PAID  # type: ignore[union-attr]
    return placed


def ids(found: object) -> list[int]:
    return [payment.id for payment in found]  # type: ignore[attr-defined]


def test_each_filter_narrows_exactly_and_the_newest_come_first(session: Session, clock: Clock) -> None:
    first, second, third = three_orders(session, clock)
    admin = staff("platform_admin")
    assert ids(find_payments(session, admin, PaymentFilter())) == [third.id, second.id, first.id]
    assert ids(find_payments(session, admin, PaymentFilter(limit=2))) == [third.id, second.id]
    assert ids(find_payments(session, admin, PaymentFilter(status=statuses.PAID))) == [second.id]
    assert ids(find_payments(session, admin, PaymentFilter(status=statuses.CREATED))) == [third.id, first.id]
    # From is inclusive, to exclusive: a day's searches never count an order twice.
    window = PaymentFilter(created_from=second.created_at, created_to=third.created_at)
    assert ids(find_payments(session, admin, window)) == [second.id]
    assert ids(find_payments(session, admin, PaymentFilter(created_to=second.created_at))) == [first.id]
    assert ids(find_payments(session, admin, PaymentFilter(created_from=third.created_at))) == [third.id]
    late = PaymentFilter(created_from=third.created_at + timedelta(seconds=1))
    assert ids(find_payments(session, admin, late)) == []
    assert ids(find_payments(session, admin, PaymentFilter(out_trade_no=second.out_trade_no))) == [second.id]


def test_an_order_number_no_channel_writes_finds_nothing(session: Session, clock: Clock) -> None:
    three_orders(session, clock)
    admin = staff("platform_admin")
    for number in ("", "ct 1", "x" * 33, "ct1\n", "ct１"):
        assert find_payments(session, admin, PaymentFilter(out_trade_no=number)) == []


def test_same_time_orders_are_listed_newest_id_first(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    placed = [open_order(session, gateway, clock) for _ in range(3)]
    found = find_payments(session, staff("platform_admin"), PaymentFilter())
    assert ids(found) == sorted((p.id for p in placed), reverse=True)


def test_an_order_placed_earlier_but_written_later_is_listed_by_when_it_was_placed(
    session: Session, clock: Clock
) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    clock.advance(minutes=1)
    later = open_order(session, gateway, clock)
    clock.advance(minutes=-1)  # a request that read the clock first and wrote its order second
    earlier = open_order(session, gateway, clock)
    assert earlier.id > later.id
    assert ids(find_payments(session, staff("platform_admin"), PaymentFilter())) == [later.id, earlier.id]


def test_a_channel_admin_finds_and_reads_only_their_channels(session: Session, clock: Clock) -> None:
    first, _, _ = three_orders(session, clock)
    assert find_payments(session, staff("channel_admin", ("alipay",)), PaymentFilter()) == []
    assert len(find_payments(session, staff("channel_admin", ("alipay", "wechat")), PaymentFilter())) == 3
    with pytest.raises(NotFound) as hidden:
        payment_story(session, staff("channel_admin", ("alipay",)), first.public_id)
    assert hidden.value.code == "billing.payment_not_found"
    story = payment_story(session, staff("channel_admin", ("wechat",)), first.public_id)
    assert (story.payment.id, story.amount_available, story.refunds, story.postings) == (first.id, 2500, [], [])
    for unknown in ("py" + "0" * 20, "py" + "0" * 19 + "\n", first.public_id.upper()):
        with pytest.raises(NotFound):
            payment_story(session, staff("platform_admin"), unknown)
    with pytest.raises(Forbidden):
        find_payments(session, staff("city_operator"), PaymentFilter())
    with pytest.raises(Forbidden):
        payment_story(session, staff("city_operator"), first.public_id)


def member(session: Session, clock: Clock, username: str, role: str, channels: tuple[str, ...] = ()) -> StaffMember:
    cities = ("330100",) if role == "city_operator" else ()
    with transaction(session):
        return create_staff_member(
            session, NewStaffMember(username, username.title(), STAFF_PASSWORD, role, cities, channels), now=clock()
        )


def paid_order(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock) -> Payment:
    order = open_order(session, gateway, clock)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return order


def test_a_staff_refund_needs_a_reason_and_lands_with_its_audit_entry(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = paid_order(app, session, gateway, clock)
    finance = member(session, clock, "finance", "channel_admin", ("wechat",))
    for blank in ("", "   ", "\t\n"):
        with pytest.raises(Invalid) as refused:
            refund_by_staff(session, gateway, finance, order.public_id, 100, blank, NOTIFY_URL, clock)
        assert (refused.value.code, list(refused.value.details)) == ("billing.reason_required", ["reason"])
        assert refused.value.message == refused.value.details["reason"]
        assert refused.value.message.startswith("Say why you are making this change.")
    session.rollback()
    assert session.scalars(select(Refund)).all() == []
    refund = refund_by_staff(session, gateway, finance, order.public_id, 600, "  charged twice  ", NOTIFY_URL, clock)
    assert (refund.amount_fen, refund.reason, refund.requested_by) == (600, "charged twice", f"staff:{finance.id}")
    session.rollback()
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.refund")).one()
    assert (entry.actor_id, entry.target, entry.at, entry.city_code, entry.channel) == (
        finance.id,
        f"payment:{order.public_id}",
        clock(),
        "330100",
        "wechat",
    )
    assert (entry.before, entry.after) == (
        {"amount_available": 2500},
        {"out_refund_no": refund.out_refund_no, "amount_fen": 600},
    )
    assert entry.reason.strip() == "charged twice"


def test_only_the_payments_channel_admin_may_refund_it(app: Flask, session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = paid_order(app, session, gateway, clock)
    for username, role, channels, refusal in (
        ("alifinance", "channel_admin", ("alipay",), NotFound),
        ("root", "platform_admin", (), Forbidden),
        ("operator", "city_operator", (), Forbidden),
    ):
        someone = member(session, clock, username, role, channels)
        with pytest.raises(refusal):
            refund_by_staff(session, gateway, someone, order.public_id, 100, "asked", NOTIFY_URL, clock)
    session.rollback()
    assert session.scalars(select(Refund)).all() == []
    assert session.scalars(select(AuditEntry).where(AuditEntry.action == "payment.refund")).all() == []


def test_a_staff_refund_asks_the_channel_to_report_back_where_the_admin_said(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = Recording(clock)
    order = paid_order(app, session, gateway, clock)
    finance = member(session, clock, "finance", "channel_admin", ("wechat",))
    refund = refund_by_staff(session, gateway, finance, order.public_id, 600, "charged twice", NOTIFY_URL, clock)
    assert gateway.refunds == [
        RefundOrder(order.out_trade_no, refund.out_refund_no, 600, 2500, "charged twice", NOTIFY_URL)
    ]


def test_the_story_tells_only_this_payments_refunds_notifications_and_postings_in_order(
    app: Flask, session: Session, clock: Clock
) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order, other = paid_order(app, session, gateway, clock), paid_order(app, session, gateway, clock)
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        first, second = (
            request_refund(db, gateway, order.id, amount, "cancelled", "saga:test", NOTIFY_URL, clock)
            for amount in (1000, 500)
        )
    # The first refund settles and the payment's notice comes again after the second was asked for:
    # rows written earlier change later, and the story still reads in the order things happened.
    assert deliver(app, gateway, gateway.settle_refund(order.out_trade_no, first.out_refund_no), clock).received
    assert deliver(app, gateway, gateway.payment_notification(order.out_trade_no), clock).received
    story = payment_story(session, staff("platform_admin"), order.public_id)
    assert (story.payment.id, story.amount_available) == (order.id, 1000)
    assert [(r.id, r.status) for r in story.refunds] == [
        (first.id, statuses.SUCCEEDED),
        (second.id, statuses.PROCESSING),
    ]
    assert [(n.kind, n.out_refund_no, n.copies) for n in story.notifications] == [
        ("payment", None, 2),
        ("refund", first.out_refund_no, 1),
    ]
    assert [(entry.kind, [line.amount_fen for line in lines]) for entry, lines in story.postings] == [
        ("payment", [2500, -2500]),
        ("refund", [1000, -1000]),
    ]
    assert [n.outcome for n in payment_story(session, staff("platform_admin"), other.public_id).notifications] == [
        "applied"
    ]
