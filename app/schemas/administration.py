"""Operators' view and changes of a city's catalogue, and the audit log."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.catalogue import STATES
from app.schemas.strict import FullMatch
from app.schemas.strict import StrictBoolean
from city_services.administration import HoursChange
from city_services.administration import OfferingChange
from city_services.administration import WindowChange

CLOCK = FullMatch(r"^([01]\d|2[0-3]):[0-5]\d$", error="Use a time of day as HH:MM.")


class HoursSchema(Schema):
    """Local opening hours; null times mean around the clock."""

    opens_at = fields.String(required=True, allow_none=True, validate=CLOCK, metadata={"example": "08:30"})
    closes_at = fields.String(required=True, allow_none=True, validate=CLOCK, metadata={"example": "17:30"})
    weekdays = fields.String(
        load_default="1234567",
        validate=FullMatch(r"^[1-7]{1,7}$", error="ISO weekday digits, 1 = Monday ... 7 = Sunday."),
        metadata={"example": "12345"},
    )

    @post_load
    def make_hours(self, data: dict[str, Any], **kwargs: Any) -> HoursChange:
        """Load into the use-case's value."""
        return HoursChange(**data)


class WindowSchema(Schema):
    """A maintenance window and what residents are told during it."""

    starts_at = fields.AwareDateTime(required=True)
    ends_at = fields.AwareDateTime(required=True)
    message_zh = fields.String(required=True, validate=validate.Length(min=1, max=200))
    message_en = fields.String(load_default=None, allow_none=True, validate=validate.Length(max=200))

    @post_load
    def make_window(self, data: dict[str, Any], **kwargs: Any) -> WindowChange:
        """Load into the use-case's value."""
        return WindowChange(**data)


class OfferingChangeSchema(Schema):
    """A change to one city × service × channel; fields left out stay as they are."""

    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))
    enabled = StrictBoolean()
    hours = fields.Nested(HoursSchema)
    maintenance_windows = fields.List(
        fields.Nested(WindowSchema), metadata={"description": "Replaces every window; [] clears them."}
    )
    upstream = fields.String(validate=validate.Length(min=1, max=64))
    upstream_params = fields.Dict(keys=fields.String(), values=fields.Raw())

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
    upstream = fields.String(required=True)
    upstream_params = fields.Dict(required=True)
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

    city = fields.String(validate=FullMatch(r"^\d{6}$"))
    before_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))


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
