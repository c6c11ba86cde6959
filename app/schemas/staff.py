"""Staff sessions and accounts."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.strict import FullMatch
from city_services.models import CHANNELS
from identity.models import ROLES
from identity.staff import NewStaffMember


class StaffLoginSchema(Schema):
    """A staff member's credentials."""

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=256), load_only=True)


class StaffSchema(Schema):
    """A staff account, without its secrets."""

    id = fields.Integer(required=True)
    username = fields.String(required=True)
    display_name = fields.String(required=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    cities = fields.List(fields.String(), required=True)
    channels = fields.List(fields.String(), required=True)
    active = fields.Boolean(required=True)


class StaffSessionSchema(Schema):
    """A staff login: the token to send as `Authorization: Bearer ...` and when it expires."""

    token = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    staff = fields.Nested(StaffSchema, required=True)


class StaffListSchema(Schema):
    """All staff accounts."""

    staff = fields.List(fields.Nested(StaffSchema), required=True)


class NewStaffSchema(Schema):
    """A new staff account and why it is being created."""

    username = fields.String(required=True, validate=FullMatch(r"^[a-z0-9][a-z0-9._-]{2,63}$"))
    display_name = fields.String(required=True, validate=validate.Length(min=1, max=128))
    password = fields.String(required=True, validate=validate.Length(min=12, max=256), load_only=True)
    role = fields.String(required=True, validate=validate.OneOf(ROLES))
    cities = fields.List(fields.String(validate=FullMatch(r"^\d{6}$")), load_default=list)
    channels = fields.List(fields.String(validate=validate.OneOf(CHANNELS)), load_default=list)
    reason = fields.String(required=True, validate=validate.Length(min=1, max=500))

    @post_load
    def make_new_staff_member(self, data: dict[str, Any], **kwargs: Any) -> tuple[NewStaffMember, str]:
        """The account to create and the reason, for the audit log."""
        reason = data.pop("reason")
        return NewStaffMember(cities=tuple(data.pop("cities")), channels=tuple(data.pop("channels")), **data), reason
