"""What channel admins see and do with payments: find them, read their whole story, refund them (audited)."""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.gateway import PaymentGateway
from billing.ledger import entries_of
from billing.models import LedgerEntry
from billing.models import LedgerLine
from billing.models import Payment
from billing.models import PaymentNotification
from billing.models import Refund
from billing.refunds import amount_available
from billing.refunds import request_refund
from errors import Invalid
from errors import NotFound
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise

_PUBLIC_ID = re.compile(r"py[0-9a-f]{20}", re.ASCII)
_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_-]{1,32}", re.ASCII)
CHANNELS = ("wechat", "alipay")


@dataclass(frozen=True)
class PaymentFilter:
    """What a channel admin searches payments by; every part optional."""

    out_trade_no: str | None = None
    status: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None
    limit: int = 100


@dataclass(frozen=True)
class PaymentStory:
    """A payment with everything that happened to it."""

    payment: Payment
    amount_available: int
    refunds: Sequence[Refund]
    notifications: Sequence[PaymentNotification]
    postings: list[tuple[LedgerEntry, list[LedgerLine]]]


def find_payments(session: Session, staff: StaffMember, wanted: PaymentFilter) -> Sequence[Payment]:
    """Payments of the channels the staff member answers for, newest first."""
    authorise(staff, "payments.view")
    query = select(Payment).order_by(Payment.created_at.desc(), Payment.id.desc()).limit(wanted.limit)
    if staff.role == "channel_admin":
        query = query.where(Payment.channel.in_(staff.channels))
    if wanted.out_trade_no is not None:
        if _ORDER_NUMBER.fullmatch(wanted.out_trade_no) is None:
            return []
        query = query.where(Payment.out_trade_no == wanted.out_trade_no)
    if wanted.status is not None:
        query = query.where(Payment.status == wanted.status)
    if wanted.created_from is not None:
        query = query.where(Payment.created_at >= wanted.created_from)
    if wanted.created_to is not None:
        query = query.where(Payment.created_at < wanted.created_to)
    return session.scalars(query).all()


def payment_story(session: Session, staff: StaffMember, payment_id: str) -> PaymentStory:
    """One payment with its refunds, notifications and ledger postings; another channel's is 404."""
    payment = _visible(session, staff, payment_id)
    return PaymentStory(
        payment=payment,
        amount_available=amount_available(session, payment),
        refunds=session.scalars(select(Refund).where(Refund.payment_id == payment.id).order_by(Refund.id)).all(),
        notifications=session.scalars(
            select(PaymentNotification)
            .where(PaymentNotification.payment_id == payment.id)
            .order_by(PaymentNotification.id)
        ).all(),
        postings=entries_of(session, payment.id),
    )


def refund_by_staff(
    session: Session,
    gateway: PaymentGateway,
    staff: StaffMember,
    payment_id: str,
    amount_fen: int,
    reason: str,
    notify_url: str,
    clock: Callable[[], datetime],
) -> Refund:
    """A channel admin gives money back, never more than remains; the refund and its audit entry land together."""
    payment = _visible(session, staff, payment_id)
    authorise(staff, "payments.refund", channel=payment.channel)
    problem = reason_problem(reason)
    if problem:
        raise Invalid("billing.reason_required", problem, {"reason": problem})

    def audit(db: Session, paid: Payment, refund: Refund) -> None:
        record_staff_action(
            db,
            staff,
            action="payment.refund",
            target=f"payment:{paid.public_id}",
            reason=reason,
            at=clock(),
            before={"amount_available": amount_available(db, paid) + refund.amount_fen},
            after={"out_refund_no": refund.out_refund_no, "amount_fen": refund.amount_fen},
            city_code=paid.city_code,
            channel=paid.channel,
        )

    return request_refund(
        session, gateway, payment.id, amount_fen, reason.strip(), f"staff:{staff.id}", notify_url, clock, also=audit
    )


def _visible(session: Session, staff: StaffMember, public_id: str) -> Payment:
    """The payment, if the staff member may see it; otherwise it does not exist for them."""
    authorise(staff, "payments.view")
    payment = None
    if _PUBLIC_ID.fullmatch(public_id):
        payment = session.scalar(select(Payment).where(Payment.public_id == public_id))
    if payment is None or (staff.role == "channel_admin" and payment.channel not in staff.channels):
        raise NotFound("billing.payment_not_found", "No such payment.")
    return payment
