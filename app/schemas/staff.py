"""Staff sessions and accounts."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate
from marshmallow import validates_schema

from app.schemas.administration import CITY_CODE
from app.schemas.administration import reason_field
from app.schemas.strict import Distinct
from app.schemas.strict import StrictText
from city_services.models import CHANNELS
from identity.models import ROLES
from identity.staff import MAX_DISPLAY_NAME_LENGTH
from identity.staff import MAX_PASSWORD_LENGTH
from identity.staff import MAX_SCOPE_CITIES
from identity.staff import NewStaffMember


class StaffLoginSchema(Schema):
    """A staff member's credentials."""

    username = StrictText(max_length=64, required=True)
    password = StrictText(max_length=MAX_PASSWORD_LENGTH, blank=True, required=True, load_only=True)


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


def _cities_field(**kwargs: Any) -> fields.List:
    """A scope's cities: 6-digit codes, each once, at most as many as an operator may have."""
    return fields.List(
        StrictText(max_length=6, pattern=CITY_CODE, pattern_error="A 6-digit city code."),
        validate=[validate.Length(max=MAX_SCOPE_CITIES), Distinct()],
        **kwargs,
    )


def _channels_field(**kwargs: Any) -> fields.List:
    """A scope's channels, each once."""
    return fields.List(StrictText(max_length=16, validate=validate.OneOf(CHANNELS)), validate=Distinct(), **kwargs)


class NewStaffSchema(Schema):
    """A new staff account and why it is being created."""

    username = StrictText(
        max_length=64,
        min_length=3,
        pattern=r"[a-z0-9][a-z0-9._-]{2,63}",
        pattern_error="3 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit.",
        required=True,
    )
    display_name = StrictText(max_length=MAX_DISPLAY_NAME_LENGTH, required=True)
    password = StrictText(max_length=MAX_PASSWORD_LENGTH, min_length=12, required=True, load_only=True)
    role = StrictText(max_length=32, required=True, validate=validate.OneOf(ROLES))
    cities = _cities_field(load_default=list)
    channels = _channels_field(load_default=list)
    reason = reason_field()

    @post_load
    def make_new_staff_member(self, data: dict[str, Any], **kwargs: Any) -> tuple[NewStaffMember, str]:
        """The account to create and the reason, for the audit log."""
        reason = data.pop("reason")
        return NewStaffMember(cities=tuple(data.pop("cities")), channels=tuple(data.pop("channels")), **data), reason


class ScopeChangeSchema(Schema):
    """A staff member's new cities or channels (whole lists; one left out stays as it is) and why."""

    cities = _cities_field()
    channels = _channels_field()
    reason = reason_field()

    @validates_schema
    def require_a_change(self, data: dict[str, Any], **kwargs: Any) -> None:
        """Refuse a change that names neither cities nor channels."""
        if "cities" not in data and "channels" not in data:
            raise ValidationError("Send cities, channels or both.", field_name="cities")


class StaffChangeReasonSchema(Schema):
    """Why a staff account is being disabled or unlocked."""

    reason = reason_field()
