"""The sweeps that never rely on notifications alone (reliability.md §1.1): query, close, retry, poll.

Each sweep picks a batch of rows (FOR UPDATE SKIP LOCKED on PostgreSQL, so sweepers never wait on
rows another holds; the pick does not reserve them past its own short transaction), calls the
channel with no transaction open, and applies the answer under the payment's row lock. Every
channel call is idempotent (same order number, same refund number) and every answer is applied
by the status tables, so two machines sweeping the same rows at once do no harm: the second finds
the work done.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import Select
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.gateway import CLOSED
from billing.gateway import PAID
from billing.gateway import REFUNDED
from billing.gateway import UNPAID
from billing.gateway import PaymentGateway
from billing.models import Payment
from billing.models import Refund
from billing.notifications import apply_payment_state
from billing.outbox import Handler
from billing.outbox import carry_out
from billing.refunds import ask_channel
from billing.refunds import record_refund_answer
from database import transaction
from database.transaction import end_reads
from errors import DomainError
from errors import UpstreamRejected

log = logging.getLogger("citytiles.billing")
# An order still unpaid this long after it was placed is asked about (补单): its notification may be lost.
QUERY_AFTER = timedelta(minutes=2)
# A refund asked for but not accepted, or accepted but not settled, this long is asked again.
REFUND_RETRY_AFTER = timedelta(minutes=1)
REFUND_POLL_AFTER = timedelta(minutes=5)
BATCH = 50
# Orders a payer may still pay: placed, or tried and failed.
UNSETTLED = (statuses.CREATED, statuses.FAILED)


@dataclass(frozen=True)
class Sweeper:
    """What the sweeps need: the gateway of each payment, where refund notifications go, the clock."""

    gateway_for: Callable[[Payment], PaymentGateway]
    notify_url_for: Callable[[PaymentGateway], str]
    clock: Callable[[], datetime]


@dataclass(frozen=True)
class SweepReport:
    """What one pass did."""

    queried: int = 0
    closed: int = 0
    refunds_asked: int = 0
    refunds_polled: int = 0
    tasks_done: int = 0


def sweep(session: Session, sweeper: Sweeper, handlers: dict[str, Handler]) -> SweepReport:
    """One pass of every sweep, then the outbox."""
    return SweepReport(
        queried=query_unpaid_orders(session, sweeper),
        closed=close_expired_orders(session, sweeper),
        refunds_asked=retry_refunds(session, sweeper),
        refunds_polled=poll_refunds(session, sweeper),
        tasks_done=carry_out(session, handlers, sweeper.clock),
    )


def query_unpaid_orders(session: Session, sweeper: Sweeper) -> int:
    """Ask the channel about orders unpaid for a while; a payment whose notification was lost is applied."""
    now = sweeper.clock()
    ids = _pick(
        session,
        select(Payment.id).where(
            Payment.status.in_(UNSETTLED),
            Payment.created_at <= now - QUERY_AFTER,
            Payment.expires_at > now,
            Payment.checkout.is_not(None),
        ),
    )
    for payment_id in ids:
        _settle_from_channel(session, sweeper, payment_id)
    return len(ids)


def close_expired_orders(session: Session, sweeper: Sweeper) -> int:
    """Close orders past their time at the channel; one paid at the last moment is applied as paid instead."""
    now = sweeper.clock()
    ids = _pick(session, select(Payment.id).where(Payment.status.in_(UNSETTLED), Payment.expires_at <= now))
    closed = 0
    for payment_id in ids:
        payment = session.get(Payment, payment_id)
        if payment is None:
            continue
        try:
            gateway, out_trade_no = sweeper.gateway_for(payment), payment.out_trade_no
            end_reads(session)
            gateway.close(out_trade_no)
        except UpstreamRejected as refused:
            if refused.code == "billing.order_paid":
                _settle_from_channel(session, sweeper, payment_id)
                continue
            if refused.code != "billing.order_not_found":
                log.warning("an expired order could not be closed", extra={"code": refused.code})
                continue
            # The channel never had it (the order call failed): nothing there to close.
        except DomainError as failure:
            log.warning("an expired order could not be closed now", extra={"code": failure.code})
            continue
        with transaction(session):
            locked = _locked(session, payment_id)
            closed += apply_payment_state(session, locked, CLOSED, None, None, sweeper.clock())
    return closed


def retry_refunds(session: Session, sweeper: Sweeper) -> int:
    """Ask again, with the same number, for refunds the channel never accepted."""
    now = sweeper.clock()
    ids = _pick(
        session,
        select(Refund.id).where(Refund.status == statuses.REQUESTED, Refund.updated_at <= now - REFUND_RETRY_AFTER),
    )
    for refund_id in ids:
        refund = session.get(Refund, refund_id)
        payment = session.get(Payment, refund.payment_id) if refund is not None else None
        if payment is None:
            continue
        try:
            gateway = sweeper.gateway_for(payment)
            ask_channel(session, gateway, refund_id, sweeper.notify_url_for(gateway), sweeper.clock)
        except DomainError as failure:
            log.warning("a refund could not be asked for now", extra={"code": failure.code})
    return len(ids)


def poll_refunds(session: Session, sweeper: Sweeper) -> int:
    """Ask the channel how refunds still processing ended (their notification may be lost)."""
    now = sweeper.clock()
    ids = _pick(
        session,
        select(Refund.id).where(Refund.status == statuses.PROCESSING, Refund.updated_at <= now - REFUND_POLL_AFTER),
    )
    for refund_id in ids:
        refund = session.get(Refund, refund_id)
        payment = session.get(Payment, refund.payment_id) if refund is not None else None
        if refund is None or payment is None:
            continue
        try:
            gateway, numbers = sweeper.gateway_for(payment), (payment.out_trade_no, refund.out_refund_no)
            end_reads(session)
            answer = gateway.query_refund(*numbers)
        except DomainError as failure:
            log.warning("a refund's state could not be asked now", extra={"code": failure.code})
            continue
        record_refund_answer(session, refund_id, answer, sweeper.clock())
    return len(ids)


def _settle_from_channel(session: Session, sweeper: Sweeper, payment_id: int) -> bool:
    """Query an order and apply what the channel says; whether anything changed."""
    payment = session.get(Payment, payment_id)
    if payment is None:
        return False
    try:
        gateway, out_trade_no = sweeper.gateway_for(payment), payment.out_trade_no
        end_reads(session)
        seen = gateway.query(out_trade_no)
    except DomainError as failure:
        log.warning("an order's state could not be asked now", extra={"code": failure.code})
        return False
    if seen.state == UNPAID:
        return False
    with transaction(session):
        locked = _locked(session, payment_id)
        if seen.amount_fen != locked.amount_fen:
            log.error("the channel reports another amount for our order", extra={"out_trade_no": out_trade_no})
            return False
        state = PAID if seen.state == REFUNDED else seen.state
        return apply_payment_state(session, locked, state, seen.channel_trade_no, seen.paid_at, sweeper.clock())


def _pick(session: Session, query: Select[int]) -> list[int]:
    """A batch of ids no other sweeper holds right now."""
    with transaction(session):
        return list(session.scalars(query.limit(BATCH).with_for_update(skip_locked=True)))


def _locked(session: Session, payment_id: int) -> Payment:
    payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
    assert payment is not None  # payments are never deleted
    return payment
