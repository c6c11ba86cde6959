"""The menu rules as the use-case holds them, whatever the API's schema let through first."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from chat.accounts import Account
from chat.menus import MenuChange
from chat.menus import account_for
from chat.menus import change_menu
from chat.menus import describe
from chat.menus import visible_accounts
from chat.models import ChatMenu
from database import transaction
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.conftest import STAFF_PASSWORD

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
HANGZHOU_OA = Account("wechat", "wx9a8b7c6d5e4f3a20", "330100")
SHENZHEN_LIFE = Account("alipay", "2021004100000009", "440300", passive=False)
ITEM = {"key": "gjj", "name": "公积金", "intent": "housing_fund"}


def operator(session: Session, role: str = "city_operator", **scope: Any) -> StaffMember:
    name = "-".join([f"m-{role}", *scope.get("cities", ()), *scope.get("channels", ())])
    with transaction(session):
        staff = create_staff_member(session, NewStaffMember(name, "m", STAFF_PASSWORD, role, **scope), now=NOW)
    return staff


@pytest.mark.parametrize(
    ("menu", "keywords", "field", "problem"),
    [
        ([ITEM] * 0 + [{**ITEM, "key": f"k{n}"} for n in range(6)], {}, "menu", "At most 5 items."),
        ([ITEM, ITEM], {}, "menu", "Each key once."),
        ([{**ITEM, "intent": "transfer"}], {}, "menu", "An item's intent is one of"),
        ([], {f"w{n}": "help" for n in range(21)}, "keywords", "At most 20 keywords."),
        ([], {"余额": "transfer"}, "keywords", "A keyword's intent is one of"),
        ([], {"余额": "help", "余额 ": "help"}, "keywords", "Each keyword once, and not blank."),
        ([], {"ＡＢ": "help", "ab": "help"}, "keywords", "Each keyword once, and not blank."),
        ([], {" ": "help"}, "keywords", "Each keyword once, and not blank."),
    ],
)
def test_a_menu_breaking_a_rule_is_refused_naming_the_field_and_nothing_is_stored(
    session: Session, menu: list[dict[str, str]], keywords: dict[str, str], field: str, problem: str
) -> None:
    staff = operator(session, cities=("330100",))
    with pytest.raises(Invalid) as refused:
        change_menu(session, staff, HANGZHOU_OA, MenuChange(tuple(menu), keywords, "tidy up"), NOW)
    assert refused.value.code == "chat.invalid_menu"
    problems = refused.value.details["fields"]
    assert list(problems) == [field] and any(text.startswith(problem) for text in problems[field])
    assert session.scalar(select(ChatMenu)) is None


def test_a_refused_menu_says_why_and_names_the_intents_there_are(session: Session) -> None:
    staff = operator(session, cities=("330100",))
    change = MenuChange(({**ITEM, "intent": "transfer"},), {"余额": "transfer"}, "tidy up")
    with pytest.raises(Invalid) as refused:
        change_menu(session, staff, HANGZHOU_OA, change, NOW)
    intents = "housing_fund, car_move, outpatient, progress, help"
    assert refused.value.message == "The menu or the keywords cannot be used."
    assert refused.value.details == {
        "fields": {
            "menu": [f"An item's intent is one of {intents}."],
            "keywords": [f"A keyword's intent is one of {intents}."],
        }
    }


def test_five_items_and_twenty_keywords_are_the_most_and_are_kept(session: Session) -> None:
    staff = operator(session, cities=("330100",))
    menu = tuple({**ITEM, "key": f"k{n}"} for n in range(5))
    keywords = {f"w{n}": "progress" for n in range(20)}
    change_menu(session, staff, HANGZHOU_OA, MenuChange(menu, keywords, "the most there is"), NOW)
    shown = describe(session, HANGZHOU_OA)
    assert shown["menu"] == list(menu) and shown["keywords"] == keywords
    assert shown["updated_by"] == staff.username and shown["updated_at"] == NOW
    entry = session.scalars(select(AuditEntry)).one()
    assert (entry.action, entry.target, entry.channel, entry.actor_username) == (
        "chat.menu_changed", "chat:wx9a8b7c6d5e4f3a20", "wechat", staff.username,
    )  # fmt: skip
    assert entry.before == {"menu": [], "keywords": {}} and entry.after == {"menu": list(menu), "keywords": keywords}
    # A second change records what the first left.
    change_menu(session, staff, HANGZHOU_OA, MenuChange((ITEM,), {}, "shorter"), NOW)
    second = session.scalars(select(AuditEntry).order_by(AuditEntry.id.desc())).first()
    assert second is not None and second.before == {"menu": list(menu), "keywords": keywords}


def test_an_untouched_account_shows_the_default_menu(session: Session) -> None:
    shown = describe(session, HANGZHOU_OA)
    assert [item["key"] for item in shown["menu"]] == ["housing_fund", "car_move", "outpatient", "progress"]
    assert shown["keywords"] == {} and shown["updated_by"] is None and shown["built_in_keywords"]["挪车"] == "car_move"
    english = Account("alipay", "2021004100000009", "440300", language="en", passive=False)
    assert {k: v for k, v in describe(session, english).items() if k != "built_in_keywords"} == {
        "app_id": "2021004100000009",
        "channel": "alipay",
        "city": "440300",
        "language": "en",
        "menu": [
            {"key": key, "name": key, "intent": key} for key in ("housing_fund", "car_move", "outpatient", "progress")
        ],
        "keywords": {},
        "updated_by": None,
        "updated_at": None,
    }


def test_staff_see_the_accounts_of_their_cities_or_channels(session: Session) -> None:
    accounts = {a.app_id: a for a in (SHENZHEN_LIFE, HANGZHOU_OA)}
    hangzhou = operator(session, cities=("330100",))
    assert visible_accounts(hangzhou, accounts) == [HANGZHOU_OA]
    alipay = operator(session, "channel_admin", channels=("alipay",))
    assert visible_accounts(alipay, accounts) == [SHENZHEN_LIFE]
    platform = operator(session, "platform_admin")
    assert visible_accounts(platform, accounts) == [SHENZHEN_LIFE, HANGZHOU_OA]  # by app id
    wechat = operator(session, "channel_admin", channels=("wechat",))
    assert visible_accounts(wechat, accounts) == [HANGZHOU_OA]


def test_an_account_is_found_only_for_staff_of_its_city_and_channel(session: Session) -> None:
    accounts = {a.app_id: a for a in (SHENZHEN_LIFE, HANGZHOU_OA)}
    hangzhou = operator(session, cities=("330100",))
    assert account_for(hangzhou, accounts, HANGZHOU_OA.app_id, "catalogue.change") == HANGZHOU_OA
    with pytest.raises(NotFound) as missing:
        account_for(hangzhou, accounts, "wx0000000000000009", "catalogue.view")
    assert (missing.value.code, missing.value.message) == ("chat.account_not_found", "No such account.")
    with pytest.raises(Forbidden) as elsewhere:
        account_for(hangzhou, accounts, SHENZHEN_LIFE.app_id, "catalogue.view")
    assert elsewhere.value.code == "auth.city_out_of_scope"
    alipay = operator(session, "channel_admin", channels=("alipay",))
    assert account_for(alipay, accounts, SHENZHEN_LIFE.app_id, "catalogue.view") == SHENZHEN_LIFE
    with pytest.raises(Forbidden) as other_channel:
        account_for(alipay, accounts, HANGZHOU_OA.app_id, "catalogue.view")
    assert other_channel.value.code == "auth.channel_out_of_scope"
