"""Each role sees exactly its pages and scope; the console's changes go through the admin API's use-cases."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from identity.models import AuditEntry
from identity.models import StaffMember
from tests.app.console_client import Console
from tests.app.console_client import alert
from tests.app.console_client import console_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import alipay_pay_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import paid
from tests.app.paying_world import paying_app_fixture  # noqa: F401 - a fixture
from tests.app.paying_world import wechat_pay_fixture  # noqa: F401 - a fixture
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
HANGZHOU_CAR_MOVE = "/admin/cities/330100/services/car_move/channels/wechat"
SHENZHEN_CAR_MOVE = "/admin/cities/440300/services/car_move/channels/wechat"


def audit_count(session: Session) -> int:
    session.rollback()
    return session.scalar(select(func.count()).select_from(AuditEntry)) or 0


def tile(api: Api, city: str, service: str) -> dict[str, Any]:
    tiles = api.get(f"/api/v1/cities/{city}/services?channel=wechat")["tiles"]
    return next(t for t in tiles if t["code"] == service)


def test_an_operator_puts_a_service_into_maintenance_and_residents_see_it(
    console: Console, api: Api, make_staff: Any, session: Session
) -> None:
    make_staff("hz-ops", "city_operator", ("330100",))
    console.log_in("hz-ops")
    assert tile(api, "330100", "car_move")["state"] == "available"
    console.get(HANGZHOU_CAR_MOVE)
    form = {
        "enabled": "on",
        "weekdays": list("1234567"),
        "starts_at": "2026-11-18T09:00",
        "ends_at": "2026-11-18T12:00",
        "message_zh": "系统升级",
        "message_en": "Upgrading",
        "reason": "Traffic police system upgrade",
    }
    assert console.post(HANGZHOU_CAR_MOVE, form).headers["Location"] == "/admin/cities/330100"
    assert tile(api, "330100", "car_move")["state"] == "maintenance"
    assert "维护中" in console.text("/admin/cities/330100")
    [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.actor_username, entry.action, entry.reason) == (
        "hz-ops",
        "catalogue.offering_changed",
        "Traffic police system upgrade",
    )


def test_every_change_needs_a_reason_and_a_refused_change_changes_nothing(
    console: Console, api: Api, make_staff: Any, session: Session
) -> None:
    make_staff("hz-ops", "city_operator", ("330100",))
    console.log_in("hz-ops")
    console.get(HANGZHOU_CAR_MOVE)
    refused = console.post(HANGZHOU_CAR_MOVE, {"weekdays": list("1234567"), "reason": "  "}, expected=422)
    assert alert(refused) == "请填写变更原因。"
    bad_window = {"enabled": "on", "weekdays": "1", "starts_at": "yesterday", "ends_at": "", "reason": "x"}
    console.post(HANGZHOU_CAR_MOVE, bad_window, expected=422)
    assert tile(api, "330100", "car_move")["state"] == "available"
    assert audit_count(session) == 0


def test_an_operator_of_one_city_neither_sees_nor_changes_another(
    console: Console, make_staff: Any, session: Session
) -> None:
    make_staff("hz-ops", "city_operator", ("330100",))
    console.log_in("hz-ops")
    cities = console.text("/admin/cities/")
    assert "330100" in cities and "440300" not in cities and "深圳" not in cities
    for path in ("/admin/cities/440300", "/admin/cities/440300/upstreams", SHENZHEN_CAR_MOVE):
        assert "您无权管理该城市" in console.text(path, expected=403)
    console.post(SHENZHEN_CAR_MOVE, {"enabled": "", "weekdays": "1", "reason": "take it down"}, expected=403)
    assert audit_count(session) == 0
    for path in ("/admin/staff/", "/admin/staff/new", "/admin/payments/"):
        console.get(path, expected=403)
    nav = console.text("/admin/")
    assert "/admin/cities/" in nav and "/admin/staff/" not in nav and "/admin/payments/" not in nav


def test_an_operator_sees_upstream_health(console: Console, make_staff: Any) -> None:
    make_staff("hz-ops", "city_operator", ("330100",))
    console.log_in("hz-ops")
    page = console.text("/admin/cities/330100/upstreams")
    assert "housing_fund" in page and "closed" in page


def test_a_platform_admin_creates_disables_and_unlocks_staff(
    console: Console, make_staff: Any, session: Session, api: Api
) -> None:
    make_staff("root", "platform_admin")
    console.log_in("root")
    console.get("/admin/staff/new")
    new = {
        "username": "sz-ops",
        "display_name": "Shenzhen ops",
        "password": "a long enough password",
        "role": "city_operator",
        "cities": ["440300"],
        "reason": "New operator for Shenzhen",
    }
    console.post("/admin/staff/new", {**new, "cities": []}, expected=422)
    console.post("/admin/staff/new", new)
    assert "sz-ops" in console.text("/admin/staff/")
    api.post("/admin/api/sessions", json={"username": "sz-ops", "password": "a long enough password"}, expected=201)
    for _ in range(5):
        api.post("/admin/api/sessions", json={"username": "sz-ops", "password": "wrong password!!"}, expected=401)
    api.post("/admin/api/sessions", json={"username": "sz-ops", "password": "wrong password!!"}, expected=429)
    console.post("/admin/staff/sz-ops/unlock", {"reason": ""}, expected=422)
    console.post("/admin/staff/sz-ops/unlock", {"reason": "Forgot the password, verified by phone"})
    api.post("/admin/api/sessions", json={"username": "sz-ops", "password": "a long enough password"}, expected=201)
    console.post("/admin/staff/root/disable", {"reason": "oops"}, expected=409)
    console.post("/admin/staff/sz-ops/disable", {"reason": "Moved to another team"})
    session.rollback()
    assert session.scalar(select(StaffMember).where(StaffMember.username == "sz-ops")).active is False
    actions = [e.action for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == ["staff.created", "staff.unlocked", "staff.disabled"]


def test_the_audit_log_filters_by_actor_action_and_day(
    console: Console, make_staff: Any, clock: Clock, session: Session
) -> None:
    make_staff("root", "platform_admin")
    make_staff("hz-ops", "city_operator", ("330100",))
    for who in ("root", "hz-ops"):
        console.log_in(who)
        console.get(HANGZHOU_CAR_MOVE)
        console.post(
            HANGZHOU_CAR_MOVE,
            {"weekdays": list("12345" if who == "root" else "123"), "enabled": "on", "reason": f"hours by {who}"},
        )
        clock.advance(days=2)
    console.log_in("root")
    everything = console.text("/admin/audit/")
    assert "hours by root" in everything and "hours by hz-ops" in everything
    by_hz = console.text("/admin/audit/?actor=hz-ops")
    assert "hours by hz-ops" in by_hz and "hours by root" not in by_hz
    assert "hours by" not in console.text("/admin/audit/?action=staff.created")
    first_day = console.text("/admin/audit/?from=2026-11-18&to=2026-11-18")
    assert "hours by root" in first_day and "hours by hz-ops" not in first_day
    assert "hours by" not in console.text("/admin/audit/?from=2026-11-21")


def test_a_channel_admin_finds_their_channels_payments_and_refunds_with_a_reason(
    app: Flask,
    console: Console,
    make_staff: Any,
    session: Session,
    wechat_pay: FakePaymentGateway,
    alipay_pay: FakePaymentGateway,
    clock: Clock,
) -> None:
    wechat_id = paid(app, session, wechat_pay, clock)
    alipay_id = paid(app, session, alipay_pay, clock, 1800)
    make_staff("finance", "channel_admin", channels=("wechat",))
    console.log_in("finance")
    listed = console.text("/admin/payments/")
    assert wechat_id in listed and alipay_id not in listed
    assert wechat_id in console.text("/admin/payments/?status=paid&from=2026-11-18&to=2026-11-18")
    assert wechat_id not in console.text("/admin/payments/?from=2026-11-19")
    console.get(f"/admin/payments/{alipay_id}", expected=404)
    story = console.text(f"/admin/payments/{wechat_id}")
    assert "25.00" in story and "applied" in story
    refund = f"/admin/payments/{wechat_id}/refunds"
    console.post(refund, {"amount": "5.00", "reason": ""}, expected=422)
    console.post(refund, {"amount": "30.00", "reason": "Too much"}, expected=409)
    console.post(refund, {"amount": "5.5.0", "reason": "Typo"}, expected=422)
    console.post(refund, {"amount": "5.00", "reason": "Resident was charged twice"})
    assert "Resident was charged twice" in console.text(f"/admin/payments/{wechat_id}")
    [entry] = session.scalars(select(AuditEntry)).all()
    assert (entry.action, entry.actor_username, entry.after["amount_fen"]) == ("payment.refund", "finance", 500)
    console.post(f"/admin/payments/{alipay_id}/refunds", {"amount": "1.00", "reason": "not mine"}, expected=404)
