"""Housing fund lookups and the resident's data-access log."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.schemas.strict import StrictText
from city_services.housing_fund import provider as port
from identity.masking import mask_account_number

# A centre's cursor passes through us opaque: printable ASCII, no spaces.
CURSOR = r"[!-~]{1,200}"


class MaskedNumber(fields.String):
    """An account or loan number shown with only its last four characters."""

    def _serialize(self, value: Any, attr: str | None, obj: Any, **kwargs: Any) -> str | None:
        return None if value is None else mask_account_number(value)


class RecordsQuerySchema(Schema):
    """Which page of records: none for the newest, else the next_cursor of the page before."""

    cursor = StrictText(max_length=200, pattern=CURSOR, metadata={"description": "next_cursor of the page before."})


class DataAccessQuerySchema(Schema):
    """Which page of the data-access log."""

    cursor = StrictText(max_length=10, pattern=r"[1-9][0-9]{0,9}", metadata={"description": "next_cursor."})


class MonthlySchema(Schema):
    """The monthly contribution in fen."""

    personal_fen = fields.Integer(required=True, metadata={"example": 144000})
    employer_fen = fields.Integer(required=True, metadata={"example": 144000})
    total_fen = fields.Integer(required=True, metadata={"example": 288000})


class FundAccountSchema(Schema):
    """A provident fund account as the centre holds it."""

    status = fields.String(required=True, validate=validate.OneOf(port.ACCOUNT_STATES))
    balance_fen = fields.Integer(required=True, metadata={"example": 5234567})
    monthly = fields.Nested(MonthlySchema, required=True)
    contribution_base_fen = fields.Integer(required=True)
    opened_on = fields.Date(required=True)
    last_deposit_on = fields.Date(allow_none=True, required=True)
    account_number = MaskedNumber(required=True, metadata={"example": "********0001"})
    employer = fields.String(required=True)
    has_loan = fields.Boolean(required=True)


class FundRecordSchema(Schema):
    """One booked movement: money in is positive, a withdrawal negative."""

    posted_on = fields.Date(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(port.RECORD_KINDS))
    amount_fen = fields.Integer(required=True)
    balance_fen = fields.Integer(allow_none=True, metadata={"description": "The balance after, when the centre says."})
    description = fields.String(required=True)


class RecordsPageSchema(Schema):
    """Records newest first; next_cursor is null on the last page."""

    records = fields.List(fields.Nested(FundRecordSchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)


class LoanSchema(Schema):
    """A provident fund housing loan."""

    loan_number = MaskedNumber(required=True)
    status = fields.String(required=True, validate=validate.OneOf(port.LOAN_STATES))
    principal_fen = fields.Integer(required=True)
    balance_fen = fields.Integer(required=True)
    issued_on = fields.Date(required=True)
    term_months = fields.Integer(required=True)
    remaining_months = fields.Integer(required=True)
    annual_rate_bp = fields.Integer(required=True, metadata={"description": "310 is 3.10% a year."})
    monthly_payment_fen = fields.Integer(required=True)
    next_payment_on = fields.Date(allow_none=True, required=True)
    overdue_periods = fields.Integer(required=True)
    overdue_fen = fields.Integer(required=True)


class LoanAnswerSchema(Schema):
    """The loan, or null without one."""

    loan = fields.Nested(LoanSchema, allow_none=True, required=True)


class DataAccessEntrySchema(Schema):
    """One lookup of the resident's data at a city's system."""

    at = fields.AwareDateTime(required=True)
    city = fields.String(required=True, attribute="city_code", metadata={"example": "330100"})
    service = fields.Constant("housing_fund", required=True)
    what = fields.String(required=True, attribute="lookup", validate=validate.OneOf(port.LOOKUPS))
    channel = fields.String(required=True)
    upstream = fields.String(required=True, metadata={"example": "hangzhou_gjj"})
    outcome = fields.String(required=True, metadata={"description": '"ok" or the error code answered.'})
    from_cache = fields.Boolean(required=True)


class DataAccessSchema(Schema):
    """Lookups of my data, newest first; next_cursor is null on the last page."""

    entries = fields.List(fields.Nested(DataAccessEntrySchema), required=True)
    next_cursor = fields.String(allow_none=True, required=True)
