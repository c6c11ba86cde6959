"""What channel admins send and read about payments, refunds and their books."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.schemas.payments import PaymentSchema
from app.schemas.strict import StrictAwareDateTime
from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictText
from billing.statuses import PAYMENT_STATUSES
from billing.statuses import REFUND_STATUSES


class PaymentQuerySchema(Schema):
    """Filters: every one optional; times with their offset."""

    out_trade_no = StrictText(max_length=32, pattern=r"[A-Za-z0-9_-]{1,32}", pattern_error="An order number.")
    status = StrictText(max_length=24, validate=validate.OneOf(PAYMENT_STATUSES))
    created_from = StrictAwareDateTime(data_key="from")
    created_to = StrictAwareDateTime(data_key="to")
    limit = StrictInteger(validate=validate.Range(min=1, max=500), load_default=100)


class NewRefundSchema(Schema):
    """A refund a channel admin gives: never more than remains; the reason goes to the audit log."""

    amount_fen = StrictInteger(required=True, validate=validate.Range(min=1, max=10**10))
    reason = StrictText(max_length=200, required=True)


class RefundSchema(Schema):
    """One refund and where it stands."""

    out_refund_no = fields.String(required=True)
    amount_fen = fields.Integer(required=True)
    status = fields.String(required=True, validate=validate.OneOf(REFUND_STATUSES))
    reason = fields.String(required=True)
    requested_by = fields.String(required=True, metadata={"example": "staff:3"})
    channel_refund_id = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    settled_at = fields.AwareDateTime(allow_none=True)


class NotificationSchema(Schema):
    """A notification the channel sent (its raw body stays sealed)."""

    event_id = fields.String(required=True)
    kind = fields.String(required=True)
    out_refund_no = fields.String(allow_none=True)
    outcome = fields.String(required=True)
    copies = fields.Integer(required=True)
    received_at = fields.AwareDateTime(required=True)
    last_received_at = fields.AwareDateTime(required=True)


class PostingLineSchema(Schema):
    """One side of a ledger entry: debit positive, credit negative."""

    account = fields.String(required=True, metadata={"example": "clearing:wechat:1900000109"})
    amount_fen = fields.Integer(required=True)


class PostingSchema(Schema):
    """One balanced ledger entry."""

    key = fields.String(required=True)
    kind = fields.String(required=True)
    posted_at = fields.AwareDateTime(required=True)
    lines = fields.List(fields.Nested(PostingLineSchema), required=True)


class AdminPaymentSchema(PaymentSchema):
    """A payment as finance sees it."""

    city = fields.String(required=True)
    service = fields.String(required=True)
    app_id = fields.String(required=True)
    merchant_id = fields.String(required=True)
    channel_trade_no = fields.String(allow_none=True)
    created_at = fields.AwareDateTime(required=True)


class PaymentListSchema(Schema):
    """Payments, newest first."""

    payments = fields.List(fields.Nested(AdminPaymentSchema), required=True)


class PaymentStorySchema(AdminPaymentSchema):
    """A payment with its refunds, notifications and postings."""

    amount_available = fields.Integer(required=True)
    refunds = fields.List(fields.Nested(RefundSchema), required=True)
    notifications = fields.List(fields.Nested(NotificationSchema), required=True)
    postings = fields.List(fields.Nested(PostingSchema), required=True)
