"""Residents' catalogue endpoints: cities and tiles, with states derived at request time."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
HANGZHOU_TILES = "/api/v1/cities/330100/services?channel=wechat"


def test_lists_both_demo_cities_in_seed_order(api: Api) -> None:
    body = api.get("/api/v1/cities")
    assert body == {"cities": [{"code": "330100", "name": "杭州市"}, {"code": "440300", "name": "深圳市"}]}


def test_names_follow_accept_language(api: Api) -> None:
    body = api.get("/api/v1/cities", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert [c["name"] for c in body["cities"]] == ["Hangzhou", "Shenzhen"]


@pytest.mark.parametrize("city", ["330100", "440300"])
@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_every_demo_tile_is_available_in_display_order(api: Api, city: str, channel: str) -> None:
    body = api.get(f"/api/v1/cities/{city}/services?channel={channel}")
    assert body["city"]["code"] == city and body["channel"] == channel
    assert [t["code"] for t in body["tiles"]] == ["housing_fund", "car_move", "outpatient"]
    assert {t["state"] for t in body["tiles"]} == {"available"}
    assert body["tiles"][0] == {
        "code": "housing_fund",
        "name": "公积金查询",
        "category": "housing",
        "icon": "housing-fund",
        "state": "available",
        "message": None,
        "available_again_at": None,
    }


def test_unknown_city_is_404_in_the_error_shape(api: Api) -> None:
    body = api.get("/api/v1/cities/999999/services?channel=wechat", expected=404)
    assert body["error"]["code"] == "catalogue.city_not_found"
    assert body["error"]["details"] == {"city": "999999"}


@pytest.mark.parametrize("query", ["", "?channel=", "?channel=douyin"])
def test_missing_or_unknown_channel_is_422_naming_the_field(api: Api, query: str) -> None:
    body = api.get(f"/api/v1/cities/330100/services{query}", expected=422)
    assert body["error"]["code"] == "request.invalid"
    assert "channel" in body["error"]["details"]["fields"]


def test_operator_maintenance_shows_at_once_with_return_time(api: Api, make_staff, clock: Clock) -> None:
    token = make_staff("ops", "platform_admin")
    starts, ends = clock() - timedelta(minutes=5), clock() + timedelta(hours=2)
    window = {
        "starts_at": starts.isoformat(),
        "ends_at": ends.isoformat(),
        "message_zh": "系统升级",
        "message_en": "Upgrade",
    }
    api.patch(
        "/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "planned upgrade", "maintenance_windows": [window]},
        token=token,
    )
    tiles = {t["code"]: t for t in api.get(HANGZHOU_TILES)["tiles"]}
    assert tiles["car_move"]["state"] == "maintenance"
    assert tiles["car_move"]["message"] == "系统升级"
    assert tiles["car_move"]["available_again_at"] == ends.isoformat()
    # The other channel and city are untouched.
    alipay = {t["code"]: t for t in api.get("/api/v1/cities/330100/services?channel=alipay")["tiles"]}
    assert alipay["car_move"]["state"] == "available"
    # When the window has passed, the same cached catalogue shows it available again.
    clock.advance(hours=3)
    assert {t["code"]: t for t in api.get(HANGZHOU_TILES)["tiles"]}["car_move"]["state"] == "available"


def test_hours_are_applied_at_request_time(api: Api, make_staff, clock: Clock) -> None:
    token = make_staff("ops", "platform_admin")
    api.patch(
        "/admin/api/cities/330100/services/outpatient/channels/wechat",
        json={"reason": "hospital hours", "hours": {"opens_at": "07:00", "closes_at": "17:00", "weekdays": "12345"}},
        token=token,
    )
    assert api.get(HANGZHOU_TILES)["tiles"][2]["state"] == "available"  # Wednesday 10:00
    clock.advance(hours=8)  # 18:00
    tile = api.get(HANGZHOU_TILES, headers={"Accept-Language": "en"})["tiles"][2]
    assert tile["state"] == "off_hours"
    assert tile["message"] == "Open Mon-Fri 07:00-17:00."
    assert tile["available_again_at"] == "2026-11-18T23:00:00+00:00"  # Thursday 07:00 in Hangzhou


def test_disabled_tile_stays_listed_as_unavailable(api: Api, make_staff) -> None:
    token = make_staff("ops", "platform_admin")
    api.patch(
        "/admin/api/cities/440300/services/housing_fund/channels/alipay",
        json={"reason": "contract ended", "enabled": False},
        token=token,
    )
    tile = api.get("/api/v1/cities/440300/services?channel=alipay")["tiles"][0]
    assert tile["state"] == "unavailable" and tile["message"] and tile["available_again_at"] is None
