"""Official and life accounts: the city each serves, its language, its menu and keywords (operators may set them)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from sqlalchemy.orm import Session

from chat.models import ChatMenu


@dataclass(frozen=True)
class Account:
    """An official or life account: its channel, the city it serves, its language, the mini-program it links to."""

    channel: str
    app_id: str
    city: str
    language: str = "zh-CN"
    mini_program_app_id: str | None = None
    # Menu key -> intent, unless the city's operators set their own.
    menu: Mapping[str, str] | None = None
    # Whether the channel takes a passive reply in the answer to its push (WeChat does, Alipay does not).
    passive: bool = True


def menu_of(session: Session, account: Account) -> tuple[dict[str, str], dict[str, str]]:
    """The account's menu (key -> intent) and extra keywords: the operators' if they set them, else the defaults."""
    stored = session.get(ChatMenu, account.app_id)
    if stored is None:
        return dict(account.menu or DEFAULT_MENU), {}
    return {item["key"]: item["intent"] for item in stored.menu}, dict(stored.keywords)


# The menu every account starts with: the keys the channels' menu buttons send.
DEFAULT_MENU = {
    "housing_fund": "housing_fund",
    "car_move": "car_move",
    "outpatient": "outpatient",
    "progress": "progress",
}
