"""Console sessions: the cookie, the CSRF token, the CSP, lockout, and revocation by logout, disabling and expiry."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.console import init_console
from app.console.frame import CONSOLE_POLICY
from config import Settings
from database import transaction
from identity.models import StaffMember
from tests.app.console_client import Console
from tests.app.console_client import alert
from tests.app.console_client import console_fixture  # noqa: F401 - a fixture
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")


@pytest.fixture
def ada(make_staff: Any) -> str:
    return make_staff("ada", "platform_admin")


def cookie_value(console: Console) -> str:
    cookie = console.client.get_cookie("citytiles_console", path="/admin/")
    assert cookie is not None
    return cookie.value


def test_pages_carry_the_console_policy_and_no_inline_script_or_style(console: Console, ada: str) -> None:
    login = console.get("/admin/login")
    assert login.headers["Content-Security-Policy"] == CONSOLE_POLICY
    for directive in ("default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"):
        assert directive in CONSOLE_POLICY
    assert "unsafe-inline" not in CONSOLE_POLICY
    console.log_in("ada")
    for path in ("/admin/", "/admin/staff/", "/admin/cities/330100", "/admin/audit/", "/admin/payments/"):
        page = console.get(path)
        html = page.get_data(as_text=True)
        assert page.headers["Content-Security-Policy"] == CONSOLE_POLICY, path
        assert page.headers["Cache-Control"] == "no-store", path
        assert "<script>" not in html and "<style" not in html and " style=" not in html and "onclick" not in html


def test_the_session_cookie_is_http_only_same_site_and_path_bound(console: Console, ada: str) -> None:
    cookie = console.log_in("ada").headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Path=/admin/" in cookie
    assert "Secure" not in cookie


def test_the_cookie_is_secure_in_production(settings: Settings) -> None:
    app = Flask("production-console")
    init_console(app, replace(settings, app_env="production"))
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] in ("Lax", "Strict")


def test_pages_need_a_login_and_come_back_after_it(console: Console, ada: str) -> None:
    assert console.get("/admin/staff/", expected=302).headers["Location"].startswith("/admin/login?next=/admin/staff/")
    console.get("/admin/login?next=/admin/staff/")
    landed = console.post(
        "/admin/login", {"username": "ada", "password": "correct horse battery staple", "next": "/admin/staff/"}
    )
    assert landed.headers["Location"] == "/admin/staff/"


@pytest.mark.parametrize("target", ["//evil.example/", "https://evil.example/", "/api/v1/me", "/admin\\..\\x"])
def test_login_never_sends_staff_off_the_console(console: Console, ada: str, target: str) -> None:
    console.get("/admin/login")
    landed = console.post(
        "/admin/login", {"username": "ada", "password": "correct horse battery staple", "next": target}
    )
    assert landed.headers["Location"] == "/admin/"


@pytest.mark.parametrize("path", ["/admin/login", "/admin/logout", "/admin/language", "/admin/staff/new"])
def test_a_form_without_its_csrf_token_is_refused(console: Console, ada: str, path: str) -> None:
    console.log_in("ada")
    refused = console.post(
        path, {"username": "ada", "password": "x", "language": "en", "reason": "x"}, expected=400, csrf=False
    )
    assert "此表单已过期" in refused.get_data(as_text=True)


def test_a_form_with_another_sessions_csrf_token_is_refused(
    console: Console, client: Any, ada: str, app: Flask
) -> None:
    console.log_in("ada")
    other = Console(app.test_client())
    other.get("/admin/login")
    console.csrf = other.csrf
    console.post("/admin/staff/new", {"username": "eve", "reason": "x"}, expected=400)
    console.csrf = console.csrf[:-1] + ("A" if console.csrf[-1] != "A" else "B")
    console.post("/admin/staff/new", {"username": "eve", "reason": "x"}, expected=400)


def test_the_csrf_token_changes_at_login(console: Console, ada: str) -> None:
    console.get("/admin/login")
    before = console.csrf
    console.log_in("ada")
    console.get("/admin/")
    assert console.csrf != before


def test_a_wrong_password_is_refused_and_repeated_ones_lock_the_username(console: Console, ada: str) -> None:
    assert alert(console.log_in("ada", "wrong password!!", expected=401)) == "用户名或密码错误。"
    for _ in range(4):
        console.log_in("ada", "wrong password!!", expected=401)
    locked = console.log_in("ada", "wrong password!!", expected=429)
    assert int(locked.headers["Retry-After"]) > 0
    # Locked means locked: the right password waits too, as on the admin API.
    console.log_in("ada", expected=429)


def test_the_console_and_the_api_share_the_lockout(console: Console, api: Api, ada: str) -> None:
    for _ in range(5):
        api.post("/admin/api/sessions", json={"username": "ada", "password": "wrong password!!"}, expected=401)
    console.log_in("ada", expected=429)


def test_logout_revokes_the_session_at_once(console: Console, app: Flask, ada: str) -> None:
    console.log_in("ada")
    stolen = cookie_value(console)
    console.post("/admin/logout", {})
    replay = app.test_client()
    replay.set_cookie("citytiles_console", stolen, path="/admin/")
    assert replay.get("/admin/").status_code == 302


def test_disabling_the_staff_member_ends_their_console_session(
    console: Console, session: Session, make_staff: Any, ada: str, app: Flask
) -> None:
    make_staff("bob", "city_operator", ("330100",))
    bob = Console(app.test_client())
    bob.log_in("bob")
    bob.get("/admin/cities/330100")
    console.log_in("ada")
    console.get("/admin/staff/")
    console.post("/admin/staff/bob/disable", {"reason": "Left the team"})
    assert bob.get("/admin/cities/330100", expected=302).headers["Location"].startswith("/admin/login")
    bob.log_in("bob", expected=401)
    with transaction(session):
        assert session.scalar(select(StaffMember).where(StaffMember.username == "bob")).active is False


def test_the_session_ends_when_its_token_expires(console: Console, clock: Clock, ada: str) -> None:
    console.log_in("ada")
    clock.advance(minutes=479)
    console.get("/admin/")
    clock.advance(minutes=1)
    console.get("/admin/", expected=302)


def test_the_language_follows_the_browser_then_the_switch(console: Console, ada: str) -> None:
    assert '<html lang="zh-CN">' in console.text("/admin/login")
    english = console.get("/admin/login", headers={"Accept-Language": "en-GB,en;q=0.9"}).get_data(as_text=True)
    assert '<html lang="en">' in english and "Staff login" in english
    console.log_in("ada")
    console.post("/admin/language", {"language": "en", "next": "/admin/staff/"})
    assert "Staff accounts" in console.text("/admin/staff/")
    console.post("/admin/language", {"language": "zh-CN", "next": "/admin/"})
    assert "员工账号" in console.text("/admin/staff/")
