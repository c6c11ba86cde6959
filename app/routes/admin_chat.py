"""Operators set their city's official and life accounts' menus and keywords (audited)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.chat import ChatAccountListSchema
from app.schemas.chat import ChatAccountSchema
from app.schemas.chat import MenuChangeSchema
from chat.menus import MenuChange
from chat.menus import account_for
from chat.menus import change_menu
from chat.menus import describe
from chat.menus import visible_accounts
from identity.models import StaffMember
from identity.roles import authorise

blueprint = Blueprint("admin_chat", __name__, url_prefix="/admin/api")


@blueprint.get("/chat-accounts")
@operation(
    summary="The official and life accounts of my cities (or channels), with their menus and keywords",
    tag="admin",
    response=ChatAccountListSchema(),
    auth="staff",
    errors=("auth.forbidden",),
)
def list_chat_accounts(staff: StaffMember) -> dict[str, Any]:
    """A city operator sees their cities' accounts; a channel admin their channels'; a platform admin all."""
    authorise(staff, "catalogue.view")
    accounts = visible_accounts(staff, current_app.extensions["chat_desk"].accounts)
    return {"accounts": [describe(get_session(), account) for account in accounts]}


@blueprint.get("/chat-accounts/<app_id>")
@operation(
    summary="One account's menu and keywords",
    tag="admin",
    response=ChatAccountSchema(),
    auth="staff",
    errors=("auth.forbidden", "auth.city_out_of_scope", "auth.channel_out_of_scope", "chat.account_not_found"),
)
def get_chat_account(app_id: str, staff: StaffMember) -> dict[str, Any]:
    """Read-only for channel admins."""
    account = account_for(staff, current_app.extensions["chat_desk"].accounts, app_id, "catalogue.view")
    return describe(get_session(), account)


@blueprint.put("/chat-accounts/<app_id>")
@operation(
    summary="Replace an account's menu and keywords; reason required, audited",
    tag="admin",
    body=MenuChangeSchema,
    response=ChatAccountSchema(),
    auth="staff",
    errors=(
        "auth.forbidden",
        "auth.city_out_of_scope",
        "auth.channel_out_of_scope",
        "chat.account_not_found",
        "chat.invalid_menu",
        "audit.reason_required",
    ),
)
def put_chat_account(app_id: str, staff: StaffMember, payload: MenuChange) -> dict[str, Any]:
    """Followers get the new words on their next message."""
    account = account_for(staff, current_app.extensions["chat_desk"].accounts, app_id, "catalogue.change")
    change_menu(get_session(), staff, account, payload, current_app.extensions["clock"]())
    return describe(get_session(), account)
