"""Operators set their city's account menus and keywords through the admin API: scoped, checked, audited, obeyed."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from database import transaction
from identity.models import AuditEntry
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.chat.pushes import OFFICIAL_ACCOUNT
from tests.chat.pushes import Pusher
from tests.chat.pushes import new_openid
from tests.chat.pushes import pusher_of
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

URL = f"/admin/api/chat-accounts/{OFFICIAL_ACCOUNT}"
MENU = {
    "reason": "Shorter menu for older residents",
    "menu": [
        {"key": "gjj", "name": "公积金", "intent": "housing_fund"},
        {"key": "jd", "name": "进度", "intent": "progress"},
    ],
    "keywords": {"余额": "housing_fund", "查进度": "progress"},
}


@pytest.fixture
def staff_token(app: Flask, api: Api, clock: Clock) -> Callable[..., str]:
    """A staff member's API token, the member created on the way."""

    def token(role: str, cities: tuple[str, ...] = ()) -> str:
        username = f"{role[:4]}-{secrets.token_hex(3)}"
        with app.extensions["session_factory"]() as session, transaction(session):
            create_staff_member(session, NewStaffMember(username, username, STAFF_PASSWORD, role, cities), now=clock())
        body = api.post("/admin/api/sessions", json={"username": username, "password": STAFF_PASSWORD}, expected=201)
        found: str = body["token"]
        return found

    return token


@pytest.fixture
def app(clean_sandbox: Sandbox, database_url: str, clock: Clock, tmp_path: Path) -> Iterator[Flask]:
    settings = clean_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    pusher = pusher_of(clean_sandbox.state_dir)
    application = create_app(settings, clock=clock)
    application.extensions["pusher"] = pusher
    yield application
    application.extensions["engine"].dispose()


def test_an_operator_of_the_city_sets_the_menu_and_it_is_audited(
    api: Api, app: Flask, staff_token: Callable[..., str], session: Session
) -> None:
    hangzhou = staff_token("city_operator", cities=("330100",))
    shenzhen = staff_token("city_operator", cities=("440300",))
    listed = api.get("/admin/api/chat-accounts", token=hangzhou)["accounts"]
    assert [a["app_id"] for a in listed] == ["2021004100000002", OFFICIAL_ACCOUNT]  # the life account too
    assert api.get("/admin/api/chat-accounts", token=shenzhen)["accounts"] == []
    api.put(URL, json=MENU, token=shenzhen, expected=403)
    changed = api.put(URL, json=MENU, token=hangzhou)
    assert changed["menu"] == MENU["menu"] and changed["keywords"] == MENU["keywords"]
    entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "chat.menu_changed")).one()
    assert (
        entry.reason == MENU["reason"] and entry.city_code == "330100" and entry.after["keywords"] == MENU["keywords"]
    )


@pytest.mark.parametrize(
    "bad",
    [
        {**MENU, "reason": " "},
        {**MENU, "menu": [{"key": "a", "name": "x", "intent": "pay_everyone"}]},
        {**MENU, "menu": [{"key": f"k{n}", "name": "x", "intent": "help"} for n in range(6)]},
        {**MENU, "menu": [{"key": "a", "name": "x", "intent": "help"}, {"key": "a", "name": "y", "intent": "help"}]},
        {**MENU, "keywords": {"余额": "transfer"}},
        {**MENU, "keywords": {"余额": "help", "余额 ": "help"}},
        {**MENU, "keywords": {"\u202e余额": "help"}},
    ],
)
def test_a_bad_menu_is_refused_and_nothing_changes(
    api: Api, app: Flask, staff_token: Callable[..., str], bad: dict[str, Any]
) -> None:
    token = staff_token("city_operator", cities=("330100",))
    answer = api.put(URL, json=bad, token=token, expected=422)
    assert answer["error"]["code"] in ("request.invalid", "chat.invalid_menu", "audit.reason_required")
    assert api.get(URL, token=token)["updated_by"] is None


def test_followers_get_the_new_keywords_and_menu_keys(api: Api, app: Flask, staff_token: Callable[..., str]) -> None:
    token = staff_token("city_operator", cities=("330100",))
    api.put(URL, json=MENU, token=token)
    pusher: Pusher = app.extensions["pusher"]
    oa, openid = app.test_client(), new_openid()

    def say(xml: str) -> str:
        answer = oa.post(f"/channels/wechat/{OFFICIAL_ACCOUNT}/messages", query_string=pusher.query(), data=xml)
        assert answer.status_code == 200
        return answer.get_data(as_text=True)

    assert "还没有申请" in say(pusher.text(openid, "查进度"))
    assert "还没有申请" in say(pusher.event(openid, "CLICK", "jd"))
    # The old default key is gone from the menu: a click on it gets the help.
    assert "您可以发送" in say(pusher.event(openid, "CLICK", "progress", created=1_700_000_123))
