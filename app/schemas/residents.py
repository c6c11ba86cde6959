"""Resident sessions and profile."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.strict import StrictText
from city_services.models import CHANNELS
from identity.real_name import RealNameRequest

APP_ID = r"[A-Za-z0-9_-]{1,32}"
# Login and authorisation codes are opaque tokens of printable ASCII.
CHANNEL_CODE = r"[!-~]{1,256}"


class SessionRequestSchema(Schema):
    """A channel login code, from wx.login, the official-account authorisation, or my.getAuthCode."""

    channel = StrictText(max_length=16, required=True, validate=validate.OneOf(CHANNELS))
    app_id = StrictText(max_length=32, pattern=APP_ID, pattern_error="A channel app id.", required=True)
    code = StrictText(max_length=256, pattern=CHANNEL_CODE, pattern_error="A channel code.", required=True)


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

    # The name's characters and the ID number's digits are the use-case's rules (identity.invalid_*).
    name = StrictText(max_length=60, required=True, load_only=True)
    id_number = StrictText(max_length=20, min_length=15, required=True, load_only=True)
    consent_version = StrictText(
        max_length=64, pattern=r"[0-9A-Za-z._-]{1,64}", pattern_error="A consent text version.", required=True
    )

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

    code = StrictText(max_length=256, pattern=CHANNEL_CODE, pattern_error="A channel code.", required=True)
