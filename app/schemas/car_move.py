"""Car move (一键挪车): requests, their timelines, registered vehicles and owners' answers."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictNumber
from app.schemas.strict import StrictText
from city_services.car_move.owners import ANSWERS
from city_services.car_move.service import NewRequest

CITY = r"[0-9]{6}"
# The plate's own rules (province list, letters, length) are the use-case's: car_move.invalid_plate.
PLATE_TEXT = {"max_length": 12, "metadata": {"example": "浙A12345"}}


class LocationSchema(Schema):
    """Where the car is, in WGS-84 degrees."""

    lat = StrictNumber(required=True, validate=validate.Range(-90, 90), metadata={"example": 30.27415})
    lng = StrictNumber(required=True, validate=validate.Range(-180, 180), metadata={"example": 120.15515})


class NewCarMoveRequestSchema(Schema):
    """Ask the driver of a car to move it."""

    plate = StrictText(required=True, **PLATE_TEXT)
    location = fields.Nested(LocationSchema, required=True)
    message = StrictText(max_length=50, min_length=0, blank=True, load_default="", metadata={"example": "挡住出口了"})

    @post_load
    def make_request(self, data: dict[str, Any], **kwargs: Any) -> NewRequest:
        """Load into the use-case's value."""
        return NewRequest(
            plate=data["plate"],
            lat=data["location"]["lat"],
            lng=data["location"]["lng"],
            message=data["message"].strip(),
        )


class TimelineEntrySchema(Schema):
    """One thing that happened to a request."""

    event = fields.String(
        required=True,
        metadata={
            "description": "requested, notified, acknowledged, moved, unreachable, cancelled, failed, nudged, "
            "owner_told, owner_not_told, owner_not_registered, answered_moving, answered_not_mine, "
            "answered_complaint"
        },
    )
    at = fields.AwareDateTime(required=True)


class LocationViewSchema(Schema):
    """The location given; gone after seven days."""

    lat = fields.Float(required=True)
    lng = fields.Float(required=True)


class CarMoveRequestSchema(Schema):
    """A car-move request as the requester or (reduced) the owner sees it; never the other side's identity."""

    id = fields.String(required=True, metadata={"example": "cm_3f9a0c1b2d4e5f607182"})
    city = fields.String(required=True, metadata={"example": "330100"})
    role = fields.String(required=True, metadata={"description": "requester or owner"})
    status = fields.String(
        required=True,
        metadata={
            "description": "awaiting_owner, notified, acknowledged, moved, unreachable, cancelled, not_mine, "
            "complaint or failed"
        },
    )
    plate = fields.String(allow_none=True, metadata={"example": "浙A***45"})
    location = fields.Nested(LocationViewSchema, allow_none=True)
    message = fields.String(allow_none=True)
    timeline = fields.List(fields.Nested(TimelineEntrySchema), required=True)
    answer = fields.String(allow_none=True, metadata={"description": "the owner's answer: moving, not_mine, complaint"})
    created_at = fields.AwareDateTime(required=True)
    nudge_after = fields.AwareDateTime(allow_none=True, metadata={"description": "requester only"})


class CarMoveRequestListSchema(Schema):
    """Requests about my registered vehicles, newest first."""

    requests = fields.List(fields.Nested(CarMoveRequestSchema), required=True)


class NewVehicleSchema(Schema):
    """Register my plate to be reached in my channel; the city's traffic police confirm it is mine."""

    city = StrictText(max_length=6, pattern=CITY, pattern_error="A 6-digit city code.", required=True)
    plate = StrictText(required=True, **PLATE_TEXT)


class VehicleSchema(Schema):
    """A registered vehicle, masked."""

    id = fields.String(required=True)
    city = fields.String(required=True)
    plate = fields.String(required=True, metadata={"example": "粤B***45"})
    registered_at = fields.AwareDateTime(required=True)


class AnswerSchema(Schema):
    """The owner's answer."""

    answer = StrictText(max_length=16, required=True, validate=validate.OneOf(tuple(ANSWERS)))


class CarMoveRulesSchema(Schema):
    """A city's car-move limits, with the operator's reason."""

    monthly_requests = StrictInteger(required=True, validate=validate.Range(1, 31))
    plate_cooldown_minutes = StrictInteger(required=True, validate=validate.Range(1, 24 * 60))
    reason = StrictText(max_length=500, required=True)


class CarMoveRulesViewSchema(Schema):
    """A city's car-move limits in force."""

    city = fields.String(required=True)
    monthly_requests = fields.Integer(required=True)
    plate_cooldown_minutes = fields.Integer(required=True)
