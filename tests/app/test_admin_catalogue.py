"""Changing an offering: what is stored, what is audited, and what is refused without a trace."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import AuditEntry
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
OFFERING = "/admin/api/cities/330100/services/outpatient/channels/alipay"


@pytest.fixture
def admin(make_staff) -> str:
    return make_staff("root", "platform_admin")


def offering_in_catalogue(api: Api, token: str) -> dict:
    offerings = api.get("/admin/api/cities/330100/catalogue", token=token)["offerings"]
    return next(o for o in offerings if o["service"] == "outpatient" and o["channel"] == "alipay")


def test_change_is_stored_and_audited_with_before_after_who_when_why(api: Api, admin: str, clock: Clock) -> None:
    change = {
        "reason": "Hospital opens for evening clinics",
        "enabled": False,
        "hours": {"opens_at": "07:30", "closes_at": "20:00", "weekdays": "7654321"},
    }
    body = api.patch(OFFERING, json=change, token=admin)
    assert body["enabled"] is False
    assert body["hours"] == {"opens_at": "07:30", "closes_at": "20:00", "weekdays": "1234567"}
    assert offering_in_catalogue(api, admin) == body
    [entry] = api.get("/admin/api/audit-log", token=admin)["entries"]
    assert entry["actor"] == "root"
    assert entry["action"] == "catalogue.offering_changed"
    assert entry["target"] == "330100/outpatient/alipay"
    assert entry["reason"] == "Hospital opens for evening clinics"
    assert entry["at"] == clock().isoformat()
    assert (entry["before"]["enabled"], entry["after"]["enabled"]) == (True, False)
    assert entry["before"]["hours"]["opens_at"] is None
    assert entry["after"]["hours"]["opens_at"] == "07:30"


def test_a_change_that_changes_nothing_is_not_audited(api: Api, admin: str) -> None:
    api.patch(OFFERING, json={"reason": "no-op", "enabled": True}, token=admin)
    assert api.get("/admin/api/audit-log", token=admin)["entries"] == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"enabled": False}, "request.invalid"),
        ({"reason": "", "enabled": False}, "request.invalid"),
        ({"reason": "   ", "enabled": False}, "request.invalid"),
        ({"reason": "x", "enabled": "sometimes"}, "request.invalid"),
        ({"reason": "x", "colour": "red"}, "request.invalid"),
        # The upstream is the city × service's now (/admin/api/cities/<city>/upstreams/<service>).
        ({"reason": "x", "upstream": "fake"}, "request.invalid"),
        ({"reason": "x", "upstream_params": {"timeout_seconds": 6}}, "request.invalid"),
        ({"reason": "x", "enabled": "off"}, "request.invalid"),
        ({"reason": "x", "enabled": 0}, "request.invalid"),
        (
            {
                "reason": "x",
                "maintenance_windows": [
                    {
                        "starts_at": "2026-11-18T10:00:00+08:00",
                        "ends_at": "9999-12-31T20:00:00+00:00",
                        "message_zh": "停",
                    }
                ],
            },
            "catalogue.invalid_maintenance_window",
        ),
        (
            {
                "reason": "x",
                "maintenance_windows": [
                    {
                        "starts_at": "2026-11-01T10:00:00+08:00",
                        "ends_at": "2026-11-02T10:00:00+08:00",
                        "message_zh": "旧",
                    }
                ],
            },
            "catalogue.invalid_maintenance_window",
        ),
        ({"reason": "x", "hours": {"opens_at": "18:00", "closes_at": "08:00"}}, "catalogue.invalid_hours"),
        ({"reason": "x", "hours": {"opens_at": "25:00", "closes_at": "26:00"}}, "request.invalid"),
        ({"reason": "x", "hours": {"opens_at": "08:00", "closes_at": None}}, "catalogue.invalid_hours"),
        ({"reason": "x", "hours": {"opens_at": None, "closes_at": None, "weekdays": "11"}}, "catalogue.invalid_hours"),
        ({"reason": "x", "hours": {"opens_at": None, "closes_at": None, "weekdays": "8"}}, "request.invalid"),
        (
            {
                "reason": "x",
                "maintenance_windows": [
                    {
                        "starts_at": "2026-11-18T12:00:00+08:00",
                        "ends_at": "2026-11-18T10:00:00+08:00",
                        "message_zh": "a",
                    }
                ],
            },
            "catalogue.invalid_maintenance_window",
        ),
        (
            {
                "reason": "x",
                "maintenance_windows": [
                    {"starts_at": "2026-11-18T10:00:00", "ends_at": "2026-11-18T12:00:00", "message_zh": "a"}
                ],
            },
            "request.invalid",
        ),
    ],
)
def test_invalid_changes_are_refused_and_nothing_is_written(
    api: Api, admin: str, session: Session, change: dict, code: str
) -> None:
    # Each bad change also carries a valid part, which must not be applied either.
    before = offering_in_catalogue(api, admin)
    body = api.patch(OFFERING, json={"enabled": False, **change}, token=admin, expected=422)
    assert body["error"]["code"] == code
    assert offering_in_catalogue(api, admin) == before
    assert session.scalar(select(func.count()).select_from(AuditEntry)) == 0


def test_unknown_offering_city_and_channel(api: Api, admin: str) -> None:
    change = {"reason": "x", "enabled": False}
    assert (
        api.patch("/admin/api/cities/330100/services/parking/channels/wechat", json=change, token=admin, expected=404)[
            "error"
        ]["code"]
        == "catalogue.offering_not_found"
    )
    assert (
        api.patch("/admin/api/cities/110000/services/car_move/channels/wechat", json=change, token=admin, expected=404)[
            "error"
        ]["code"]
        == "catalogue.city_not_found"
    )
    assert (
        api.patch("/admin/api/cities/330100/services/car_move/channels/douyin", json=change, token=admin, expected=422)[
            "error"
        ]["code"]
        == "catalogue.unknown_channel"
    )
    assert api.get("/admin/api/cities/110000/catalogue", token=admin, expected=404)["error"]["code"] == (
        "catalogue.city_not_found"
    )


def test_maintenance_windows_replace_and_clear(api: Api, admin: str, clock: Clock) -> None:
    start = clock() + timedelta(days=1)
    windows = [
        {
            "starts_at": (start + timedelta(days=2)).isoformat(),
            "ends_at": (start + timedelta(days=3)).isoformat(),
            "message_zh": "二",
        },
        {
            "starts_at": start.isoformat(),
            "ends_at": (start + timedelta(hours=2)).isoformat(),
            "message_zh": "一",
            "message_en": "one",
        },
    ]
    body = api.patch(OFFERING, json={"reason": "plan", "maintenance_windows": windows}, token=admin)
    assert [w["message_zh"] for w in body["maintenance_windows"]] == ["一", "二"]
    assert body["state"] == "available"
    body = api.patch(OFFERING, json={"reason": "cancelled", "maintenance_windows": []}, token=admin)
    assert body["maintenance_windows"] == []
    assert len(api.get("/admin/api/audit-log", token=admin)["entries"]) == 2


def test_audit_log_pages_newest_first(api: Api, admin: str) -> None:
    for n in range(5):
        api.patch(OFFERING, json={"reason": f"change {n}", "enabled": n % 2 == 0}, token=admin)
    first = api.get("/admin/api/audit-log?limit=2", token=admin)
    assert [e["reason"] for e in first["entries"]] == ["change 4", "change 3"]
    second = api.get(f"/admin/api/audit-log?limit=2&before_id={first['next_before_id']}", token=admin)
    assert [e["reason"] for e in second["entries"]] == ["change 2", "change 1"]
    assert api.get("/admin/api/audit-log?limit=0", token=admin, expected=422)["error"]["code"] == "request.invalid"
