"""What operators ask and read about a city's figures per service × channel."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields

from app.schemas.strict import StrictDate


class FiguresQuerySchema(Schema):
    """Days in China time, both included; the last seven days up to today when left out."""

    first = StrictDate(data_key="from")
    last = StrictDate(data_key="to")


class RefundsSchema(Schema):
    """Refunds the channel settled in the period."""

    count = fields.Integer(required=True)
    fen = fields.Integer(required=True)


class FigureRowSchema(Schema):
    """One service on one channel; service "*" is the city's tile list, where tile visits are counted."""

    service = fields.String(required=True, metadata={"example": "housing_fund"})
    channel = fields.String(required=True, metadata={"example": "wechat"})
    tile_visits = fields.Integer(required=True)
    requests = fields.Integer(required=True)
    succeeded = fields.Integer(required=True)
    success_rate = fields.Float(
        required=True,
        allow_none=True,
        metadata={"description": "succeeded / requests (2xx answers); null without requests"},
    )
    median_latency_ms = fields.Integer(
        required=True,
        allow_none=True,
        metadata={
            "description": "The upper bound of the latency bucket (50, 100, 200, 500, 1000, 2000, 5000 ms) the "
            "median request falls in; 30000 for slower; null without requests"
        },
    )
    refunds = fields.Nested(RefundsSchema, required=True)
    car_move_complaints = fields.Integer(required=True)


class FiguresSchema(Schema):
    """A city's figures over a period."""

    city = fields.String(required=True)
    first = fields.Date(required=True, data_key="from")
    last = fields.Date(required=True, data_key="to")
    rows = fields.List(fields.Nested(FigureRowSchema), required=True)
