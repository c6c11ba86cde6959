"""Payments: an order is written before the channel hears of it, then placed there, then read back by the resident.

Writing our row first means any notification the channel sends names an order we have, and a
crash between the two calls leaves a `created` order the sweep closes, never money we do not know.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billing import statuses
from billing.gateway import Order
from billing.gateway import PaymentGateway
from billing.models import Payment
from database import transaction
from database.transaction import end_reads
from errors import Conflict
from errors import NotFound

_PUBLIC_ID = re.compile(r"py[0-9a-f]{20}", re.ASCII)


@dataclass(frozen=True)
class Charge:
    """What a resident is asked to pay, and for what."""

    purpose: str
    purpose_ref: str
    resident_id: int
    city_code: str
    service_code: str
    app_id: str
    payer: str
    amount_fen: int
    description: str
    expires_at: datetime
    notify_url: str


def new_public_id() -> str:
    """A payment's id as the resident's front end sees it."""
    return "py" + secrets.token_hex(10)


def new_order_number() -> str:
    """A fresh out_trade_no: 26 letters and digits, inside both channels' rules."""
    return "ct" + secrets.token_hex(12)


def open_payment(session: Session, gateway: PaymentGateway, charge: Charge, clock: Callable[[], datetime]) -> Payment:
    """The payment for a charge, placed at the channel; asking again for the same purpose answers the same payment."""
    if charge.amount_fen <= 0:
        raise Conflict("billing.nothing_to_pay", "There is nothing to pay.")
    payment_id = _record_order(session, gateway, charge, clock())
    payment = session.get(Payment, payment_id)
    assert payment is not None  # committed just now, and payments are never deleted
    if payment.checkout is not None or payment.status != statuses.CREATED:
        return payment
    order = Order(
        payment.out_trade_no,
        payment.amount_fen,
        payment.description,
        payment.app_id,
        charge.payer,
        payment.expires_at,
        charge.notify_url,
    )
    end_reads(session)
    checkout = gateway.create(order)
    with transaction(session):
        payment = session.scalar(select(Payment).where(Payment.id == payment_id).with_for_update())
        assert payment is not None
        if payment.checkout is None:
            payment.checkout = {"reference": checkout.reference, **checkout.params}
            payment.updated_at = clock()
    return payment


def payment_of(session: Session, resident_ids: frozenset[int], public_id: str) -> Payment:
    """One of the person's payments, by its public id; anyone else's is 404."""
    payment = None
    if _PUBLIC_ID.fullmatch(public_id):
        payment = session.scalar(
            select(Payment).where(Payment.public_id == public_id, Payment.resident_id.in_(resident_ids))
        )
    if payment is None:
        raise NotFound("billing.payment_not_found", "You have no payment with this id.")
    return payment


def payment_for(session: Session, purpose: str, purpose_ref: str) -> Payment | None:
    """The payment made for a purpose, if any."""
    return session.scalar(select(Payment).where(Payment.purpose == purpose, Payment.purpose_ref == purpose_ref))


def erase_payer(session: Session, resident_ids: frozenset[int], now: datetime) -> None:
    """The payments stay in the books; who paid them is forgotten (inside the erasing transaction)."""
    for payment in session.scalars(select(Payment).where(Payment.resident_id.in_(resident_ids))):
        payment.resident_id = None
        payment.updated_at = now


def _record_order(session: Session, gateway: PaymentGateway, charge: Charge, now: datetime) -> int:
    """Our order row, committed; a concurrent request for the same purpose loses to the unique key and reads it."""
    existing = payment_for(session, charge.purpose, charge.purpose_ref)
    if existing is not None:
        return existing.id
    try:
        with transaction(session):
            payment = Payment(
                public_id=new_public_id(),
                out_trade_no=new_order_number(),
                purpose=charge.purpose,
                purpose_ref=charge.purpose_ref,
                resident_id=charge.resident_id,
                city_code=charge.city_code,
                service_code=charge.service_code,
                channel=gateway.channel,
                app_id=charge.app_id,
                merchant_id=gateway.merchant_id,
                gateway=gateway.name,
                amount_fen=charge.amount_fen,
                currency="CNY",
                description=charge.description,
                status=statuses.CREATED,
                refunded_fen=0,
                expires_at=charge.expires_at,
                created_at=now,
                updated_at=now,
            )
            session.add(payment)
            session.flush()
            return payment.id
    except IntegrityError:
        existing = payment_for(session, charge.purpose, charge.purpose_ref)
        if existing is None:
            raise
        return existing.id
