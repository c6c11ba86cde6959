"""Official and life accounts' menus and keywords, as operators read and set them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load
from marshmallow import validate

from app.schemas.administration import reason_field
from app.schemas.strict import StrictText
from chat.menus import MenuChange
from chat.routing import MENU_INTENTS

INTENT = validate.OneOf(MENU_INTENTS)


class MenuItemSchema(Schema):
    """One menu button: the key the channel sends back, its label, what it does."""

    key = StrictText(max_length=32, pattern=r"[a-z][a-z0-9_]{0,31}", metadata={"example": "housing_fund"})
    name = StrictText(max_length=16, metadata={"example": "公积金"})
    intent = StrictText(max_length=32, validate=INTENT)


class MenuChangeSchema(Schema):
    """The whole menu and keyword list, replacing the account's; and why."""

    reason = reason_field()
    menu = fields.List(fields.Nested(MenuItemSchema), required=True)
    keywords = fields.Dict(
        keys=StrictText(max_length=16), values=StrictText(max_length=32, validate=INTENT), required=True
    )

    @post_load
    def make_change(self, data: dict[str, Any], **kwargs: Any) -> MenuChange:
        """Load into the use-case's value."""
        return MenuChange(menu=tuple(data["menu"]), keywords=data["keywords"], reason=data["reason"])


class ChatAccountSchema(Schema):
    """An account, the city it serves, its menu and keywords."""

    app_id = fields.String(required=True)
    channel = fields.String(required=True)
    city = fields.String(required=True)
    language = fields.String(required=True)
    menu = fields.List(fields.Nested(MenuItemSchema), required=True)
    keywords = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    built_in_keywords = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
    updated_by = fields.String(allow_none=True)
    updated_at = fields.AwareDateTime(allow_none=True)


class ChatAccountListSchema(Schema):
    """The accounts a staff member may see."""

    accounts = fields.List(fields.Nested(ChatAccountSchema), required=True)
