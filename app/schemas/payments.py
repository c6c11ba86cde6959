"""The resident's view of a payment."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from billing.statuses import PAYMENT_STATUSES


class PaymentSchema(Schema):
    """A payment: its status, amount and what the front end passes to the channel's payment sheet."""

    id = fields.String(required=True)
    status = fields.String(required=True, validate=validate.OneOf(PAYMENT_STATUSES))
    amount_fen = fields.Integer(required=True, metadata={"example": 2500})
    refunded_fen = fields.Integer(required=True)
    currency = fields.String(required=True, metadata={"example": "CNY"})
    channel = fields.String(required=True, validate=validate.OneOf(("wechat", "alipay")))
    out_trade_no = fields.String(required=True)
    description = fields.String(required=True)
    purpose = fields.String(required=True, metadata={"example": "outpatient"})
    purpose_ref = fields.String(required=True, metadata={"description": "e.g. the appointment's id"})
    expires_at = fields.AwareDateTime(required=True, metadata={"description": "Pay before this; then it closes."})
    paid_at = fields.AwareDateTime(allow_none=True)
    pay_params = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        allow_none=True,
        metadata={
            "description": "For wx.requestPayment: timeStamp, nonceStr, package, signType, paySign; "
            "for my.tradePay: tradeNO. None once the order is no longer payable."
        },
    )
