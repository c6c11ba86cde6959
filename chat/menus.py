"""City operators set an account's menu and keywords: checked, stored under a lock, audited with the reason."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from chat.accounts import DEFAULT_MENU
from chat.accounts import Account
from chat.models import ChatMenu
from chat.routing import KEYWORDS
from chat.routing import MENU_INTENTS
from chat.routing import fold
from database.transaction import insert_or_skip
from database.transaction import transaction
from errors import Invalid
from errors import NotFound
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise

# The channels' own limits: WeChat shows at most five items under a menu button; keywords are a short list.
MOST_MENU_ITEMS, MOST_KEYWORDS = 5, 20
MENU_CHANGED = "chat.menu_changed"


@dataclass(frozen=True)
class MenuChange:
    """The whole menu and keyword list, replacing what the account had, and why."""

    menu: tuple[dict[str, str], ...]
    keywords: Mapping[str, str]
    reason: str


def visible_accounts(staff: StaffMember, accounts: Mapping[str, Account]) -> list[Account]:
    """The accounts of the staff member's cities (or channels), ordered by app id."""
    shown = []
    for app_id in sorted(accounts):
        account = accounts[app_id]
        if staff.role == "city_operator" and account.city not in staff.cities:
            continue
        if staff.role == "channel_admin" and account.channel not in staff.channels:
            continue
        shown.append(account)
    return shown


def account_for(staff: StaffMember, accounts: Mapping[str, Account], app_id: str, action: str) -> Account:
    """The account, if the staff member may do the action on its city and channel; else NotFound or Forbidden."""
    account = accounts.get(app_id)
    if account is None:
        raise NotFound("chat.account_not_found", "No such account.")
    authorise(staff, action, city=account.city, channel=account.channel)
    return account


def describe(session: Session, account: Account) -> dict[str, Any]:
    """The account as operators see it: its city, language, menu and keywords (the built-in ones listed apart)."""
    stored = session.get(ChatMenu, account.app_id)
    menu = stored.menu if stored is not None else [{"key": k, "name": k, "intent": i} for k, i in DEFAULT_MENU.items()]
    return {
        "app_id": account.app_id,
        "channel": account.channel,
        "city": account.city,
        "language": account.language,
        "menu": menu,
        "keywords": dict(stored.keywords) if stored is not None else {},
        "built_in_keywords": {word: intent for word, (intent, _) in KEYWORDS.items()},
        "updated_by": stored.updated_by if stored is not None else None,
        "updated_at": stored.updated_at if stored is not None else None,
    }


def change_menu(session: Session, staff: StaffMember, account: Account, change: MenuChange, now: datetime) -> None:
    """Replace the account's menu and keywords; the audit entry lands with the change."""
    _check(change)
    with transaction(session):
        session.execute(
            insert_or_skip(session)(ChatMenu.__table__)
            .values(
                app_id=account.app_id,
                channel=account.channel,
                menu=[],
                keywords={},
                updated_by=staff.username,
                updated_at=now,
            )  # fmt: skip
            .on_conflict_do_nothing(index_elements=["app_id"])
        )
        stored = session.scalars(select(ChatMenu).where(ChatMenu.app_id == account.app_id).with_for_update()).one()
        before = {"menu": stored.menu, "keywords": stored.keywords}
        stored.menu = [dict(item) for item in change.menu]
        stored.keywords = dict(change.keywords)
        stored.updated_by, stored.updated_at = staff.username, now
        record_staff_action(
            session,
            staff,
            action=MENU_CHANGED,
            target=f"chat:{account.app_id}",
            reason=change.reason,
            at=now,
            before=before,
            after={"menu": stored.menu, "keywords": stored.keywords},
            city_code=account.city,
            channel=account.channel,
        )


def _check(change: MenuChange) -> None:
    problems: dict[str, list[str]] = {}
    if len(change.menu) > MOST_MENU_ITEMS:
        problems.setdefault("menu", []).append(f"At most {MOST_MENU_ITEMS} items.")
    keys = [item["key"] for item in change.menu]
    if len(set(keys)) != len(keys):
        problems.setdefault("menu", []).append("Each key once.")
    if any(item["intent"] not in MENU_INTENTS for item in change.menu):
        problems.setdefault("menu", []).append(f"An item's intent is one of {', '.join(MENU_INTENTS)}.")
    if len(change.keywords) > MOST_KEYWORDS:
        problems.setdefault("keywords", []).append(f"At most {MOST_KEYWORDS} keywords.")
    if any(intent not in MENU_INTENTS for intent in change.keywords.values()):
        problems.setdefault("keywords", []).append(f"A keyword's intent is one of {', '.join(MENU_INTENTS)}.")
    folded = [fold(word) for word in change.keywords]
    if len(set(folded)) != len(folded) or not all(folded):
        problems.setdefault("keywords", []).append("Each keyword once, and not blank.")
    if problems:
        raise Invalid("chat.invalid_menu", "The menu or the keywords cannot be used.", {"fields": problems})
