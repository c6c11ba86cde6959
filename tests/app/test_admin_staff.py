"""Platform admins rescope, disable and unlock staff through the admin API."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import AuditEntry
from identity.models import StaffMember
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")
HANGZHOU = "/admin/api/cities/330100/catalogue"
SHENZHEN = "/admin/api/cities/440300/catalogue"


def scope_of(session: Session, username: str) -> tuple[list[str], list[str]]:
    """The cities and channels stored for an account, read afresh."""
    session.rollback()
    staff = session.scalar(select(StaffMember).where(StaffMember.username == username))
    assert staff is not None
    return list(staff.cities), list(staff.channels)


def staff_actions(session: Session) -> list[AuditEntry]:
    """The audit entries about staff accounts, oldest first."""
    session.rollback()
    return list(
        session.scalars(select(AuditEntry).where(AuditEntry.target.startswith("staff/")).order_by(AuditEntry.id))
    )


def test_a_narrowed_operators_token_loses_the_removed_city_and_reaches_the_added_one(
    api: Api, make_staff: Any, session: Session
) -> None:
    root = make_staff("root", "platform_admin")
    operator = make_staff("ops", "city_operator", ("330100",))
    api.get(HANGZHOU, token=operator)
    api.get(SHENZHEN, token=operator, expected=403)

    body = api.patch("/admin/api/staff/ops", json={"cities": ["440300"], "reason": "Moved to Shenzhen"}, token=root)

    assert body["cities"] == ["440300"] and body["channels"] == [] and body["username"] == "ops"
    refused = api.get(HANGZHOU, token=operator, expected=403)
    assert refused["error"]["code"] == "auth.city_out_of_scope"
    api.patch(
        "/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"enabled": False, "reason": "not theirs any more"},
        token=operator,
        expected=403,
    )
    assert api.get(SHENZHEN, token=operator)["city"] == "440300"
    (entry,) = staff_actions(session)
    assert (entry.action, entry.target, entry.actor_username) == ("staff.rescoped", "staff/ops", "root")
    assert entry.reason == "Moved to Shenzhen"
    assert entry.before is not None and entry.before["cities"] == ["330100"]
    assert entry.after is not None and entry.after["cities"] == ["440300"]


def test_a_channel_admin_is_rescoped_by_channels(api: Api, make_staff: Any, session: Session) -> None:
    root = make_staff("root", "platform_admin")
    make_staff("finance", "channel_admin", channels=("wechat",))

    body = api.patch(
        "/admin/api/staff/finance", json={"channels": ["wechat", "alipay"], "reason": "Took on Alipay"}, token=root
    )

    assert body["channels"] == ["wechat", "alipay"]
    assert scope_of(session, "finance") == ([], ["wechat", "alipay"])


@pytest.mark.parametrize(
    ("username", "change", "status", "code"),
    [
        ("ops", {"cities": ["330100", "110000"], "reason": "typo"}, 422, "staff.unknown_city"),
        ("ops", {"cities": [], "reason": "emptied"}, 422, "staff.scope_required"),
        ("ops", {"channels": ["wechat"], "reason": "wrong list"}, 422, "staff.scope_not_allowed"),
        ("finance", {"cities": ["330100"], "reason": "wrong list"}, 422, "staff.scope_not_allowed"),
        ("ops", {"cities": ["440300"]}, 422, "request.invalid"),
        ("ops", {"cities": ["440300"], "reason": "   "}, 422, "request.invalid"),
        ("ops", {"reason": "nothing to change"}, 422, "request.invalid"),
        ("root", {"cities": ["330100"], "reason": "narrow root"}, 409, "staff.not_scoped"),
        ("root", {"channels": [], "reason": "narrow root"}, 409, "staff.not_scoped"),
        ("nobody", {"cities": ["330100"], "reason": "ghost"}, 404, "staff.not_found"),
    ],
)
def test_a_refused_rescope_changes_nothing(
    api: Api, make_staff: Any, session: Session, username: str, change: dict[str, Any], status: int, code: str
) -> None:
    root = make_staff("root", "platform_admin")
    operator = make_staff("ops", "city_operator", ("330100",))
    make_staff("finance", "channel_admin", channels=("wechat",))

    body = api.patch(f"/admin/api/staff/{username}", json=change, token=root, expected=status)

    assert body["error"]["code"] == code
    assert scope_of(session, "ops") == (["330100"], [])
    assert scope_of(session, "finance") == ([], ["wechat"])
    assert staff_actions(session) == []
    api.get(HANGZHOU, token=operator)


@pytest.mark.parametrize(
    ("role", "cities", "channels"),
    [("city_operator", ("440300",), ()), ("channel_admin", (), ("wechat",))],
)
def test_only_a_platform_admin_manages_staff(
    api: Api, make_staff: Any, session: Session, role: str, cities: tuple[str, ...], channels: tuple[str, ...]
) -> None:
    make_staff("ops", "city_operator", ("330100",))
    actor = make_staff("someone", role, cities, channels)

    for method, path, body in [
        ("PATCH", "/admin/api/staff/ops", {"cities": ["440300"], "reason": "take over"}),
        ("POST", "/admin/api/staff/ops/disable", {"reason": "take over"}),
        ("POST", "/admin/api/staff/ops/unlock", {"reason": "take over"}),
    ]:
        refused = api.call(method, path, json=body, token=actor, expected=403)
        assert refused["error"]["code"] == "auth.forbidden"
    assert scope_of(session, "ops") == (["330100"], [])
    assert staff_actions(session) == []


def test_disabling_through_the_api_ends_every_session_at_once(api: Api, make_staff: Any, session: Session) -> None:
    root = make_staff("root", "platform_admin")
    operator = make_staff("ops", "city_operator", ("330100",))
    api.post("/admin/api/staff/ops/disable", json={}, token=root, expected=422)
    api.get(HANGZHOU, token=operator)

    body = api.post("/admin/api/staff/ops/disable", json={"reason": "Left the team"}, token=root)

    assert body["active"] is False
    api.get(HANGZHOU, token=operator, expected=401)
    api.post("/admin/api/sessions", json={"username": "ops", "password": STAFF_PASSWORD}, expected=401)
    refused = api.post("/admin/api/staff/root/disable", json={"reason": "oops"}, token=root, expected=409)
    assert refused["error"]["code"] == "staff.cannot_disable_self"
    (entry,) = staff_actions(session)
    assert (entry.action, entry.reason) == ("staff.disabled", "Left the team")
    assert entry.before is not None and entry.before["active"] is True
    assert entry.after is not None and entry.after["active"] is False


def test_unlocking_through_the_api_lifts_a_lockout(api: Api, make_staff: Any, session: Session) -> None:
    root = make_staff("root", "platform_admin")
    make_staff("ops", "city_operator", ("330100",))
    for _ in range(5):
        api.post("/admin/api/sessions", json={"username": "ops", "password": "wrong password!!"}, expected=401)
    api.post("/admin/api/sessions", json={"username": "ops", "password": STAFF_PASSWORD}, expected=429)
    api.post("/admin/api/staff/ops/unlock", json={"reason": ""}, token=root, expected=422)
    api.post("/admin/api/sessions", json={"username": "ops", "password": STAFF_PASSWORD}, expected=429)

    body = api.post("/admin/api/staff/ops/unlock", json={"reason": "Verified by phone"}, token=root)

    assert body["username"] == "ops" and body["active"] is True
    api.post("/admin/api/sessions", json={"username": "ops", "password": STAFF_PASSWORD}, expected=201)
    (entry,) = staff_actions(session)
    assert (entry.action, entry.reason, entry.target) == ("staff.unlocked", "Verified by phone", "staff/ops")
