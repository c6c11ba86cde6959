"""Resident-facing catalogue: cities and tiles."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.schemas.strict import StrictText
from city_services.models import CHANNELS

STATES = ("available", "maintenance", "off_hours", "unavailable", "degraded")


class CitySchema(Schema):
    """A city served."""

    code = fields.String(required=True, metadata={"example": "330100"})
    name = fields.String(required=True, metadata={"example": "杭州市"})


class CitiesSchema(Schema):
    """The cities citytiles serves."""

    cities = fields.List(fields.Nested(CitySchema), required=True)


class TilesQuerySchema(Schema):
    """Which channel's tiles to show."""

    channel = StrictText(max_length=16, required=True, validate=validate.OneOf(CHANNELS))


class TileSchema(Schema):
    """One service tile and its state right now."""

    code = fields.String(required=True, metadata={"example": "housing_fund"})
    name = fields.String(required=True)
    category = fields.String(required=True)
    icon = fields.String(required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    message = fields.String(allow_none=True, metadata={"description": "Why the tile is not available."})
    available_again_at = fields.AwareDateTime(
        allow_none=True, metadata={"description": "When the service is expected back, if known."}
    )


class TilesSchema(Schema):
    """A city's tiles on one channel, in display order."""

    city = fields.Nested(CitySchema, required=True)
    channel = fields.String(required=True)
    tiles = fields.List(fields.Nested(TileSchema), required=True)
