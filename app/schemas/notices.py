"""Notices residents may allow, and their answers to the channel's subscription prompt."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields
from marshmallow import validate

from app.schemas.strict import StrictText
from city_services.notices import ANSWERS
from city_services.notices import NOTICE_NAMES


class NoticeTemplateSchema(Schema):
    """One notice: pass template_id to wx.requestSubscribeMessage or my.requestSubscribeMessage."""

    name = fields.String(required=True, metadata={"example": "car_move_owner"})
    template_id = fields.String(required=True)
    title = fields.String(required=True, metadata={"example": "挪车通知"})
    purpose = fields.String(required=True, metadata={"example": "有人请您挪车时通知您"})
    credits = fields.Integer(required=True, metadata={"description": "Notices the resident has allowed, not yet sent"})


class NoticeTemplatesSchema(Schema):
    """The notices this app may send the resident."""

    channel = fields.String(required=True)
    app_id = fields.String(required=True)
    templates = fields.List(fields.Nested(NoticeTemplateSchema), required=True)


class NoticeSubscriptionsSchema(Schema):
    """What the resident answered in the prompt, per notice name: accept or reject."""

    templates = fields.Dict(
        keys=StrictText(max_length=32, validate=validate.OneOf(NOTICE_NAMES)),
        values=StrictText(max_length=8, validate=validate.OneOf(ANSWERS)),
        required=True,
        validate=validate.Length(min=1, max=len(NOTICE_NAMES)),
    )


class NoticeCreditsSchema(Schema):
    """Notices the resident has allowed and citytiles has not sent yet, per notice name."""

    credits = fields.Dict(keys=fields.String(), values=fields.Integer(), required=True)
