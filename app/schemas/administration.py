"""Operators' view and changes of a city's catalogue, and the audit log."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.catalogue import STATES
from app.schemas.strict import StrictAwareDateTime
from app.schemas.strict import StrictBoolean
from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictText
from city_services.administration import HoursChange
from city_services.administration import OfferingChange
from city_services.administration import WindowChange

CLOCK = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
CITY_CODE = r"[0-9]{6}"
# Free text staff write: what residents read, and why a change was made.
REASON_LENGTH = 500
MESSAGE_LENGTH = 200


def clock_field() -> StrictText:
    """A local time of day as HH:MM, or null."""
    return StrictText(
        max_length=5,
        pattern=CLOCK,
        pattern_error="Use a time of day as HH:MM.",
        required=True,
        allow_none=True,
        metadata={"example": "08:30"},
    )


def reason_field() -> StrictText:
    """Why a staff member makes a change: required, not blank, one line."""
    return StrictText(max_length=REASON_LENGTH, required=True, metadata={"example": "Upstream moved to a new host"})


class HoursSchema(Schema):
    """Local opening hours; null times mean around the clock."""

    opens_at = clock_field()
    closes_at = clock_field()
    weekdays = StrictText(
        max_length=7,
        pattern=r"[1-7]{1,7}",
        pattern_error="ISO weekday digits, 1 = Monday ... 7 = Sunday.",
        load_default="1234567",
        metadata={"example": "12345"},
    )

    @post_load
    def make_hours(self, data: dict[str, Any], **kwargs: Any) -> HoursChange:
        """Load into the use-case's value."""
        return HoursChange(**data)


class WindowSchema(Schema):
    """A maintenance window and what residents are told during it."""

    starts_at = StrictAwareDateTime(required=True)
    ends_at = StrictAwareDateTime(required=True)
    message_zh = StrictText(max_length=MESSAGE_LENGTH, required=True)
    message_en = StrictText(max_length=MESSAGE_LENGTH, load_default=None, allow_none=True)

    @post_load
    def make_window(self, data: dict[str, Any], **kwargs: Any) -> WindowChange:
        """Load into the use-case's value."""
        return WindowChange(**data)


class OfferingChangeSchema(Schema):
    """A change to one city × service × channel; fields left out stay as they are. Upstreams are per city × service."""

    reason = reason_field()
    enabled = StrictBoolean()
    hours = fields.Nested(HoursSchema)
    maintenance_windows = fields.List(
        fields.Nested(WindowSchema),
        metadata={"description": "Replaces every window; [] clears them."},
    )

    @post_load
    def make_change(self, data: dict[str, Any], **kwargs: Any) -> OfferingChange:
        """Load into the use-case's value."""
        if "maintenance_windows" in data:
            data["maintenance_windows"] = tuple(data["maintenance_windows"])
        return OfferingChange(**data)


class HoursOutSchema(Schema):
    """Stored opening hours."""

    opens_at = fields.String(allow_none=True)
    closes_at = fields.String(allow_none=True)
    weekdays = fields.String()


class WindowOutSchema(Schema):
    """A stored maintenance window."""

    starts_at = fields.String(metadata={"format": "date-time"})
    ends_at = fields.String(metadata={"format": "date-time"})
    message_zh = fields.String()
    message_en = fields.String(allow_none=True)


class OfferingSchema(Schema):
    """One offering's settings and the state residents see now."""

    service = fields.String(required=True)
    channel = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    hours = fields.Nested(HoursOutSchema, required=True)
    maintenance_windows = fields.List(fields.Nested(WindowOutSchema), required=True)
    state = fields.String(required=True, validate=validate.OneOf(STATES))
    updated_at = fields.AwareDateTime(required=True)


class CityCatalogueSchema(Schema):
    """Every offering of one city the caller may see."""

    city = fields.String(required=True)
    offerings = fields.List(fields.Nested(OfferingSchema), required=True)


class AuditQuerySchema(Schema):
    """Filters and paging for the audit log."""

    city = StrictText(max_length=6, pattern=CITY_CODE, pattern_error="A 6-digit city code.")
    before_id = StrictInteger(validate=validate.Range(min=1, max=2**31 - 1))
    limit = StrictInteger(load_default=50, validate=validate.Range(min=1, max=200))


class AuditEntrySchema(Schema):
    """One audited staff action."""

    id = fields.Integer(required=True)
    at = fields.AwareDateTime(required=True)
    actor = fields.String(attribute="actor_username", required=True)
    action = fields.String(required=True)
    target = fields.String(required=True)
    city = fields.String(attribute="city_code", allow_none=True)
    channel = fields.String(allow_none=True)
    before = fields.Dict(allow_none=True)
    after = fields.Dict(allow_none=True)
    reason = fields.String(required=True)


class AuditLogSchema(Schema):
    """A page of the audit log, newest first."""

    entries = fields.List(fields.Nested(AuditEntrySchema), required=True)
    next_before_id = fields.Integer(allow_none=True, metadata={"description": "Pass as before_id for the next page."})
