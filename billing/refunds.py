"""Refunds: asked for under the payment's lock (never more than remains), then at the channel, then settled once.

The refund row and its out_refund_no are committed before the channel is asked, so a crash or a
timeout leaves a visible refund that the sweep asks again with the same number; the channel
refunds a number once however often it is asked.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.gateway import REFUND_FAILED
from billing.gateway import REFUND_PROCESSING
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import ChannelRefund
from billing.gateway import PaymentGateway
from billing.gateway import RefundOrder
from billing.ledger import post_refund
from billing.models import Payment
from billing.models import Refund
from database import transaction
from database.transaction import end_reads
from errors import Conflict
from errors import Invalid
from errors import NotFound
from errors import UpstreamRejected
from errors import UpstreamUnavailable

log = logging.getLogger("citytiles.billing")
# A channel's word on a refund, as an event of our refund status table.
REFUND_EVENTS = {
    REFUND_PROCESSING: statuses.ACCEPTED,
    REFUND_SUCCEEDED: statuses.SETTLED,
    REFUND_FAILED: statuses.REFUSED,
}
# WeChat refunds at most 50 times per order; past it the channel would refuse anyway.
MAX_REFUNDS_PER_PAYMENT = 50


def new_refund_number() -> str:
    """A fresh out_refund_no: letters and digits only, as both channels accept."""
    return "rf" + secrets.token_hex(15)


def amount_available(session: Session, payment: Payment) -> int:
    """What may still be refunded: the amount less every refund not failed (asked, processing or done)."""
    held = session.scalar(
        select(func.coalesce(func.sum(Refund.amount_fen), 0)).where(
            Refund.payment_id == payment.id, Refund.status.in_(statuses.REFUND_HOLDS)
        )
    )
    return payment.amount_fen - int(held or 0)


def request_refund(
    session: Session,
    gateway: PaymentGateway,
    payment_id: int,
    amount_fen: int,
    reason: str,
    requested_by: str,
    notify_url: str,
    clock: Callable[[], datetime],
    *,
    also: Callable[[Session, Payment, Refund], None] | None = None,
    once: bool = False,
) -> Refund:
    """Give money back on a paid payment; of concurrent refunds that together exceed it, only those that fit.

    :param also: more to write in the transaction that records the refund (e.g. its audit entry).
    :param once: this requester's refund is one at most: an open or settled one is answered instead of a new one.
    """
    if amount_fen <= 0:
        raise Invalid(
            "billing.refund_amount_invalid", "A refund is a positive amount in fen.", {"amount_fen": "positive"}
        )
    with transaction(session):
        payment = _locked_payment(session, payment_id)
        earlier = open_refund_of(session, payment.id, requested_by) if once else None
        if earlier is not None:
            return earlier
        if payment.status not in statuses.REFUNDABLE:
            raise Conflict("billing.not_refundable", "Only a paid payment can be refunded.", {"status": payment.status})
        available = amount_available(session, payment)
        if amount_fen > available:
            raise Conflict(
                "billing.refund_exceeds_available",
                "The refund is more than what remains of the payment.",
                {"amount_available": available},
            )
        count = session.scalar(select(func.count()).select_from(Refund).where(Refund.payment_id == payment.id))
        if int(count or 0) >= MAX_REFUNDS_PER_PAYMENT:
            raise Conflict("billing.too_many_refunds", "This payment has been refunded too many times.")
        now = clock()
        refund = Refund(
            out_refund_no=new_refund_number(),
            payment_id=payment.id,
            amount_fen=amount_fen,
            reason=reason,
            requested_by=requested_by,
            status=statuses.REQUESTED,
            created_at=now,
            updated_at=now,
        )
        session.add(refund)
        session.flush()
        if also is not None:
            also(session, payment, refund)
        refund_id = refund.id
    return ask_channel(session, gateway, refund_id, notify_url, clock)


def ask_channel(
    session: Session, gateway: PaymentGateway, refund_id: int, notify_url: str, clock: Callable[[], datetime]
) -> Refund:
    """Ask the channel for a refund not yet accepted (again, with the same number), and record its answer."""
    refund = session.get(Refund, refund_id)
    payment = session.get(Payment, refund.payment_id) if refund is not None else None
    if refund is None or payment is None:
        raise NotFound("billing.refund_not_found", "No such refund.")
    order = RefundOrder(
        payment.out_trade_no, refund.out_refund_no, refund.amount_fen, payment.amount_fen, refund.reason, notify_url
    )
    end_reads(session)
    try:
        answer = gateway.refund(order)
    except UpstreamRejected as refused:
        log.warning("the channel refused a refund", extra={"code": refused.code, "out_refund_no": order.out_refund_no})
        answer = ChannelRefund(order.out_refund_no, REFUND_FAILED)
    except UpstreamUnavailable as unavailable:
        # The refund stands, recorded with its number and holding its amount: the sweep asks again with
        # the same number. Answering it as it is (requested) keeps a retried request from minting another.
        log.warning("a refund waits for the channel", extra={"code": unavailable.code})
        refund = session.get(Refund, refund_id)
        assert refund is not None  # refunds are never deleted
        return refund
    return record_refund_answer(session, refund_id, answer, clock())


def record_refund_answer(session: Session, refund_id: int, answer: ChannelRefund, now: datetime) -> Refund:
    """What the channel said of a refund, applied once under the payment's lock."""
    with transaction(session):
        refund = session.get(Refund, refund_id)
        if refund is None:
            raise NotFound("billing.refund_not_found", "No such refund.")
        payment = _locked_payment(session, refund.payment_id)
        session.refresh(refund)
        settle_refund(session, payment, refund, answer, now)
    return refund


def settle_refund(session: Session, payment: Payment, refund: Refund, answer: ChannelRefund, now: datetime) -> bool:
    """Move the refund (and the payment, once money moved) as the status tables allow; whether anything changed."""
    following = statuses.next_refund_status(refund.status, REFUND_EVENTS[answer.state])
    if following is None:
        if refund.status == statuses.SUCCEEDED and answer.state == REFUND_FAILED:
            log.error("a channel reported a succeeded refund as failed", extra={"out_refund_no": refund.out_refund_no})
        return False
    refund.status = following
    refund.channel_refund_id = answer.channel_refund_id or refund.channel_refund_id
    refund.updated_at = now
    if following == statuses.SUCCEEDED:
        refund.settled_at = answer.settled_at or now
        payment.refunded_fen += refund.amount_fen
        whole = payment.refunded_fen == payment.amount_fen
        event = statuses.REFUNDED_ALL if whole else statuses.REFUNDED_PART
        next_status = statuses.next_payment_status(payment.status, event)
        if next_status is None:
            raise Conflict("billing.not_refundable", "Only a paid payment can be refunded.", {"status": payment.status})
        payment.status = next_status
        payment.updated_at = now
        post_refund(session, payment, refund, now)
    return True


def open_refund_of(session: Session, payment_id: int, requested_by: str) -> Refund | None:
    """The requester's refund of this payment that holds its amount (asked, processing or done), if any."""
    return session.scalar(
        select(Refund).where(
            Refund.payment_id == payment_id,
            Refund.requested_by == requested_by,
            Refund.status.in_(statuses.REFUND_HOLDS),
        )
    )


def _locked_payment(session: Session, payment_id: int) -> Payment:
    """The payment, locked for this transaction."""
    payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    if payment is None:
        raise NotFound("billing.payment_not_found", "No such payment.")
    return payment
