"""Resident sessions and profile."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from city_services.models import CHANNELS
from identity.real_name import RealNameRequest


class SessionRequestSchema(Schema):
    """A channel login code, from wx.login, the official-account authorisation, or my.getAuthCode."""

    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    app_id = fields.String(required=True, validate=validate.Length(min=1, max=32))
    code = fields.String(required=True, validate=validate.Length(min=1, max=256))


class ChannelAccountSchema(Schema):
    """A channel app the resident has used."""

    channel = fields.String(required=True)
    app_id = fields.String(required=True)


class ResidentSchema(Schema):
    """A resident's profile; personal data is always masked."""

    id = fields.String(required=True, metadata={"example": "r_4fQx0c1a9Zk2"})
    created_at = fields.AwareDateTime(required=True)
    channels = fields.List(fields.Nested(ChannelAccountSchema), required=True)
    real_name_verified = fields.Boolean(required=True)
    name = fields.String(allow_none=True, metadata={"example": "张**"})
    id_number = fields.String(allow_none=True, metadata={"example": "3301**********123X"})
    assurance_level = fields.String(required=True, metadata={"example": "channel_certified"})
    verified_at = fields.AwareDateTime(allow_none=True)
    phone = fields.String(allow_none=True, metadata={"example": "138****5678"})


class ResidentSessionSchema(Schema):
    """A resident's session: send the token as `Authorization: Bearer ...`."""

    token = fields.String(required=True)
    expires_at = fields.AwareDateTime(required=True)
    resident = fields.Nested(ResidentSchema, required=True)


class RealNameSchema(Schema):
    """A real name to bind, with the version of the consent text the resident agreed to."""

    name = fields.String(required=True, validate=validate.Length(min=1, max=60), load_only=True)
    id_number = fields.String(required=True, validate=validate.Length(min=15, max=20), load_only=True)
    consent_version = fields.String(required=True, validate=validate.Length(min=1, max=64))

    @post_load
    def make_request(self, data: dict[str, Any], **kwargs: Any) -> RealNameRequest:
        """Load into the use-case's value."""
        return RealNameRequest(**data)


class ConsentTextSchema(Schema):
    """The consent text to show before asking; send its version back with the request it covers."""

    purpose = fields.String(required=True, metadata={"example": "real_name_verification"})
    version = fields.String(required=True, metadata={"example": "2026-11"})
    text = fields.String(required=True)


class PhoneSchema(Schema):
    """The code from WeChat's getPhoneNumber button."""

    code = fields.String(required=True, validate=validate.Length(min=1, max=256))
