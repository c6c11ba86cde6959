"""Staff login: expiring tokens, logout, tampering, lockout, account creation."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import AccessToken
from identity.models import StaffMember
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api
from tests.conftest import Clock


def login(api: Api, password: str = STAFF_PASSWORD, expected: int = 201) -> dict:
    return api.post("/admin/api/sessions", json={"username": "ada", "password": password}, expected=expected)


def test_login_gives_an_expiring_token_that_identifies_the_staff_member(api: Api, make_staff, clock: Clock) -> None:
    make_staff("ada", "city_operator", ("330100",))
    body = login(api)
    assert body["expires_at"] == (clock() + timedelta(minutes=480)).isoformat()
    me = api.get("/admin/api/me", token=body["token"])
    assert me == {
        "id": me["id"],
        "username": "ada",
        "display_name": "Ada",
        "role": "city_operator",
        "cities": ["330100"],
        "channels": [],
        "active": True,
    }
    clock.advance(minutes=480)
    assert api.get("/admin/api/me", token=body["token"], expected=401)["error"]["code"] == "auth.token_expired"


def test_password_and_token_are_never_stored_in_clear(api: Api, make_staff, session: Session) -> None:
    token = make_staff("ada", "platform_admin")
    staff = session.scalar(select(StaffMember))
    assert STAFF_PASSWORD not in staff.password_hash and staff.password_hash.startswith("scrypt$")
    assert token not in {t.token_hash for t in session.scalars(select(AccessToken))}


def test_logout_revokes_the_token_at_once(api: Api, make_staff) -> None:
    token = make_staff("ada", "platform_admin")
    other = login(api)["token"]
    api.delete("/admin/api/sessions/current", token=token, expected=204)
    assert api.get("/admin/api/me", token=token, expected=401)["error"]["code"] == "auth.invalid_token"
    api.get("/admin/api/me", token=other)


@pytest.mark.parametrize(
    "mangle", [lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"), lambda t: t[4:], lambda t: "x" + t]
)
def test_tampered_tokens_are_rejected(api: Api, make_staff, mangle) -> None:
    token = make_staff("ada", "platform_admin")
    assert api.get("/admin/api/me", token=mangle(token), expected=401)["error"]["code"] == "auth.invalid_token"


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer    ", "token"])
def test_malformed_authorization_headers(api: Api, header: str) -> None:
    body = api.get("/admin/api/me", headers={"Authorization": header}, expected=401)
    assert body["error"]["code"] == "auth.required"


def test_wrong_password_and_unknown_user_look_the_same(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    wrong = login(api, "not the password", expected=401)
    unknown = api.post("/admin/api/sessions", json={"username": "bob", "password": "x"}, expected=401)
    assert wrong == unknown


def test_five_failures_lock_the_account_for_a_while(api: Api, make_staff, clock: Clock) -> None:
    make_staff("ada", "platform_admin")
    for _ in range(5):
        login(api, "guess", expected=401)
    response = api.client.post("/admin/api/sessions", json={"username": "ada", "password": STAFF_PASSWORD})
    assert response.status_code == 429
    assert response.get_json()["error"]["code"] == "auth.locked"
    assert int(response.headers["Retry-After"]) == 15 * 60
    clock.advance(minutes=15)
    login(api)


def test_a_good_login_resets_the_failure_count(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for _ in range(4):
        login(api, "guess", expected=401)
    login(api)
    for _ in range(4):
        login(api, "guess", expected=401)
    login(api)


def test_platform_admin_creates_staff_who_can_then_log_in(api: Api, make_staff) -> None:
    admin = make_staff("root", "platform_admin")
    new = {
        "username": "sz.finance",
        "display_name": "Shenzhen finance",
        "password": "a long enough password",
        "role": "channel_admin",
        "channels": ["alipay"],
        "reason": "new finance admin",
    }
    created = api.post("/admin/api/staff", json=new, token=admin, expected=201)
    assert created["role"] == "channel_admin" and created["channels"] == ["alipay"] and "password" not in created
    token = api.post("/admin/api/sessions", json={"username": "sz.finance", "password": new["password"]}, expected=201)
    assert token["staff"]["username"] == "sz.finance"
    [entry] = api.get("/admin/api/audit-log", token=admin)["entries"]
    assert entry["action"] == "staff.created" and entry["reason"] == "new finance admin"
    assert "password" not in str(entry) and "scrypt" not in str(entry)
    assert api.post("/admin/api/staff", json=new, token=admin, expected=409)["error"]["code"] == "staff.username_taken"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"role": "city_operator", "cities": []}, "staff.scope_required"),
        ({"role": "channel_admin", "channels": []}, "staff.scope_required"),
        ({"role": "platform_admin", "cities": ["330100"]}, "staff.scope_not_allowed"),
        ({"role": "city_operator", "cities": ["330100"], "channels": ["wechat"]}, "staff.scope_not_allowed"),
        ({"role": "city_operator", "cities": ["hangzhou"]}, "request.invalid"),
        ({"role": "janitor"}, "request.invalid"),
        ({"role": "platform_admin", "password": "short"}, "request.invalid"),
    ],
)
def test_staff_accounts_need_a_scope_that_fits_their_role(api: Api, make_staff, change: dict, code: str) -> None:
    admin = make_staff("root", "platform_admin")
    new = {"username": "someone", "display_name": "S", "password": "a long enough password", "reason": "r", **change}
    assert api.post("/admin/api/staff", json=new, token=admin, expected=422)["error"]["code"] == code


def test_refused_tokens_are_logged_as_security_events_without_the_token(
    api: Api, make_staff, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    token = make_staff("ada", "city_operator", ("330100",))
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        api.get("/admin/api/me", token=token + "x", expected=401)
        api.get("/admin/api/cities/440300/catalogue", token=token, expected=403)
    finally:
        logger.removeHandler(caplog.handler)
    events = [r for r in caplog.records if r.name == "citytiles.security"]
    assert [e.code for e in events] == ["auth.invalid_token", "auth.city_out_of_scope"]
    assert token not in caplog.text


def test_unknown_usernames_lock_like_known_ones(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for username in ("ada", "nobody"):
        for _ in range(5):
            api.post("/admin/api/sessions", json={"username": username, "password": "guess"}, expected=401)
        locked = api.post("/admin/api/sessions", json={"username": username, "password": "guess"}, expected=429)
        assert locked["error"]["code"] == "auth.locked"


def test_failures_spread_over_time_do_not_lock(api: Api, make_staff, clock: Clock) -> None:
    make_staff("ada", "platform_admin")
    for _ in range(4):
        login(api, "guess", expected=401)
    clock.advance(minutes=16)
    for _ in range(4):
        login(api, "guess", expected=401)
    login(api)


def test_an_operator_can_unlock_a_username(app, api: Api, make_staff) -> None:  # type: ignore[no-untyped-def]
    make_staff("ada", "platform_admin")
    for _ in range(5):
        login(api, "guess", expected=401)
    login(api, expected=429)
    result = app.test_cli_runner().invoke(args=["unlock-staff", "--username", "ada"])
    assert result.exit_code == 0 and "unlocked 'ada'" in result.output
    login(api)
