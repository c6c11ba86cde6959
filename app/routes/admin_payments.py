"""Channel admins' payments: search, a payment's whole story, and refunds (audited, within their channels)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.fulfilment import notify_url
from app.operations import operation
from app.routes.payments import payment_fields
from app.schemas.admin_payments import NewRefundSchema
from app.schemas.admin_payments import PaymentListSchema
from app.schemas.admin_payments import PaymentQuerySchema
from app.schemas.admin_payments import PaymentStorySchema
from app.schemas.admin_payments import RefundSchema
from billing.administration import PaymentFilter
from billing.administration import find_payments
from billing.administration import payment_story
from billing.administration import refund_by_staff
from billing.models import Payment
from billing.models import Refund
from errors import UpstreamUnavailable
from identity.models import StaffMember

blueprint = Blueprint("admin_payments", __name__, url_prefix="/admin/api")
ERRORS = ("auth.forbidden",)
REFUND_ERRORS = (
    "auth.forbidden",
    "auth.channel_out_of_scope",
    "billing.payment_not_found",
    "billing.reason_required",
    "billing.not_refundable",
    "billing.refund_exceeds_available",
    "billing.too_many_refunds",
    "billing.refund_amount_invalid",
    "billing.channel_unavailable",
)


@blueprint.get("/payments")
@operation(
    summary="Payments of my channels, newest first: by order number, status and creation time",
    tag="admin",
    query=PaymentQuerySchema,
    response=PaymentListSchema(),
    auth="staff",
    errors=ERRORS,
)
def list_payments(staff: StaffMember, params: dict[str, Any]) -> dict[str, Any]:
    """A channel admin sees their channels' payments; a platform admin every channel's."""
    found = find_payments(get_session(), staff, PaymentFilter(**params))
    return {"payments": [described(payment) for payment in found]}


@blueprint.get("/payments/<payment_id>")
@operation(
    summary="A payment with its refunds, notifications and ledger postings",
    tag="admin",
    response=PaymentStorySchema(),
    auth="staff",
    errors=(*ERRORS, "billing.payment_not_found"),
)
def read_payment(staff: StaffMember, payment_id: str) -> dict[str, Any]:
    """Another channel's payment is not found."""
    story = payment_story(get_session(), staff, payment_id)
    return {
        **described(story.payment),
        "amount_available": story.amount_available,
        "refunds": story.refunds,
        "notifications": story.notifications,
        "postings": [
            {"key": entry.key, "kind": entry.kind, "posted_at": entry.posted_at, "lines": lines}
            for entry, lines in story.postings
        ],
    }


@blueprint.post("/payments/<payment_id>/refunds")
@operation(
    summary="Refund part or all of a payment; never more than remains; reason required, audited",
    tag="admin",
    body=NewRefundSchema,
    response=RefundSchema(),
    status=201,
    auth="staff",
    errors=REFUND_ERRORS,
    idempotent=True,
)
def refund(staff: StaffMember, payment_id: str, payload: dict[str, Any]) -> Any:
    """The refund is recorded with its number before the channel is asked; asked again by the sweep if need be."""
    return give_refund(staff, payment_id, payload["amount_fen"], payload["reason"])


def give_refund(staff: StaffMember, payment_id: str, amount_fen: int, reason: str) -> Refund:
    """Refund through the payment's own merchant: the one way the admin API and the console give money back."""
    session = get_session()
    payment = payment_story(session, staff, payment_id).payment
    gateway = current_app.extensions["channels"].merchant(payment.channel, payment.merchant_id)
    if gateway is None:
        raise UpstreamUnavailable("billing.channel_unavailable", "The payment's merchant is not configured.")
    return refund_by_staff(
        session,
        gateway,
        staff,
        payment_id,
        amount_fen,
        reason,
        notify_url(current_app.extensions["settings"].public_url, gateway),
        current_app.extensions["clock"],
    )


def described(payment: Payment) -> dict[str, Any]:
    """A payment in the admin API's words."""
    return {
        **payment_fields(payment),
        "pay_params": None,
        "city": payment.city_code,
        "service": payment.service_code,
        "app_id": payment.app_id,
        "merchant_id": payment.merchant_id,
        "channel_trade_no": payment.channel_trade_no,
        "created_at": payment.created_at,
    }
