"""The resident's payments: status, and what the mini-program opens the channel's payment sheet with."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.db_session import get_session
from app.operations import operation
from app.schemas.payments import PaymentSchema
from billing import statuses
from billing.models import Payment
from billing.payments import payment_of
from identity.people import person_ids
from identity.residents import SignedIn

blueprint = Blueprint("payments", __name__, url_prefix="/api/v1")


@blueprint.get("/payments/<payment_id>")
@operation(
    summary="One of my payments: status, amount, and the payment sheet's parameters while it can be paid",
    tag="payments",
    response=PaymentSchema(),
    auth="resident",
    errors=("billing.payment_not_found",),
)
def read_payment(signed_in: SignedIn, payment_id: str) -> dict[str, Any]:
    """Another person's payment is not found."""
    session = get_session()
    payment = payment_of(session, person_ids(session, signed_in.resident.id), payment_id)
    payable = payment.status == statuses.CREATED and payment.checkout is not None
    pay_params = {k: v for k, v in payment.checkout.items() if k != "reference"} if payable else None
    return {**payment_fields(payment), "pay_params": pay_params}


def payment_fields(payment: Payment) -> dict[str, Any]:
    """A payment in the API's words, as residents and staff both read it (pay_params apart)."""
    return {
        "id": payment.public_id,
        "status": payment.status,
        "amount_fen": payment.amount_fen,
        "refunded_fen": payment.refunded_fen,
        "currency": payment.currency,
        "channel": payment.channel,
        "out_trade_no": payment.out_trade_no,
        "description": payment.description,
        "purpose": payment.purpose,
        "purpose_ref": payment.purpose_ref,
        "expires_at": payment.expires_at,
        "paid_at": payment.paid_at,
    }
