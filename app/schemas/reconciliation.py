"""What channel admins send and read about reconciliation runs and their discrepancies."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.schemas.strict import StrictBoolean
from app.schemas.strict import StrictDate
from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictText
from billing.reconciliation.models import KINDS
from billing.reconciliation.models import RESOLUTIONS
from billing.reconciliation.models import RUN_STATUSES
from billing.reconciliation.models import STATES

CHANNELS = ("wechat", "alipay")
_MERCHANT = r"[0-9A-Za-z_-]{1,64}"


class NewRunSchema(Schema):
    """Reconcile a channel's bill of a day; the merchant may be left out when the channel has one."""

    channel = StrictText(max_length=16, required=True, validate=validate.OneOf(CHANNELS))
    day = StrictDate(required=True, data_key="date")
    merchant_id = StrictText(max_length=64, pattern=_MERCHANT, pattern_error="A merchant number.")


class RunQuerySchema(Schema):
    """Filters: every one optional; days inclusive."""

    channel = StrictText(max_length=16, validate=validate.OneOf(CHANNELS))
    status = StrictText(max_length=16, validate=validate.OneOf(RUN_STATUSES))
    day_from = StrictDate(data_key="from")
    day_to = StrictDate(data_key="to")
    limit = StrictInteger(validate=validate.Range(min=1, max=500), load_default=100)


class DiscrepancyQuerySchema(Schema):
    """Filters of a run's discrepancies."""

    kind = StrictText(max_length=24, validate=validate.OneOf(KINDS))
    state = StrictText(max_length=24, validate=validate.OneOf(STATES))
    limit = StrictInteger(validate=validate.Range(min=1, max=5000), load_default=500)


class ResolutionSchema(Schema):
    """How a discrepancy is settled; a refund names its amount; the note goes to the audit log."""

    resolution = StrictText(max_length=24, required=True, validate=validate.OneOf(RESOLUTIONS))
    note = StrictText(max_length=500, required=True, allow="\n")
    refund_fen = StrictInteger(validate=validate.Range(min=1, max=10**10))


class ApprovalSchema(Schema):
    """A second channel admin's word on a resolution that moves money."""

    approve = StrictBoolean(required=True)
    note = StrictText(max_length=500, required=True, allow="\n")


class SideSchema(Schema):
    """Counts and totals of one side."""

    payments = fields.Integer(required=True)
    paid_fen = fields.Integer(required=True)
    refunds = fields.Integer(required=True)
    refunded_fen = fields.Integer(required=True)
    net_fen = fields.Integer(required=True)
    fee_fen = fields.Integer()


class SummarySchema(Schema):
    """A run's counts and totals per side, fees, net settlement and differences; it balances to the fen."""

    bill = fields.Nested(SideSchema, required=True)
    ledger = fields.Nested(SideSchema, required=True)
    expected_fee_fen = fields.Integer(required=True)
    net_settlement_fen = fields.Integer(required=True)
    flow_difference_fen = fields.Integer(required=True)
    fee_difference_fen = fields.Integer(required=True)
    balances = fields.Boolean(required=True)
    discrepancies = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
    at_stake_fen = fields.Integer(required=True)
    bad_lines = fields.Integer(required=True)
    bill_says = fields.Dict(allow_none=True)
    # The channel made no bill for the day (long after it ended): our books were matched against nothing.
    no_bill = fields.Boolean()


class BadLineSchema(Schema):
    """A line of the bill that could not be read."""

    line = fields.Integer(required=True)
    reason = fields.String(required=True)


class RunSchema(Schema):
    """One reconciliation run."""

    id = fields.String(required=True, attribute="public_id", metadata={"example": "rc0123456789abcdef0123"})
    channel = fields.String(required=True)
    merchant_id = fields.String(required=True)
    date = fields.Date(required=True, attribute="day")
    status = fields.String(required=True, validate=validate.OneOf(RUN_STATUSES))
    failure = fields.String(allow_none=True)
    requested_by = fields.String(required=True)
    summary = fields.Nested(SummarySchema, allow_none=True)
    bad_lines = fields.List(fields.Nested(BadLineSchema), allow_none=True)
    created_at = fields.AwareDateTime(required=True)
    reconciled_at = fields.AwareDateTime(allow_none=True)


class RunListSchema(Schema):
    """Runs, latest day first."""

    runs = fields.List(fields.Nested(RunSchema), required=True)


class DiscrepancySchema(Schema):
    """One difference, its money and its review."""

    id = fields.String(required=True, attribute="public_id", metadata={"example": "dc0123456789abcdef0123"})
    run = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(KINDS))
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    out_trade_no = fields.String(required=True)
    out_refund_no = fields.String(allow_none=True)
    payment_id = fields.String(allow_none=True)
    bill_line = fields.Integer(allow_none=True)
    bill_record = fields.Dict(allow_none=True)
    ledger_fen = fields.Integer(required=True)
    bill_fen = fields.Integer(required=True)
    at_stake_fen = fields.Integer(required=True)
    detail = fields.String(required=True)
    resolution = fields.String(allow_none=True)
    note = fields.String(allow_none=True)
    refund_fen = fields.Integer(allow_none=True)
    resolved_by = fields.Integer(allow_none=True)
    resolved_at = fields.AwareDateTime(allow_none=True)
    approved_by = fields.Integer(allow_none=True)
    approved_at = fields.AwareDateTime(allow_none=True)


class DiscrepancyListSchema(Schema):
    """A run's discrepancies."""

    discrepancies = fields.List(fields.Nested(DiscrepancySchema), required=True)
