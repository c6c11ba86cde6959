"""The whole role matrix of the admin API: who may see and change what."""

from __future__ import annotations

import pytest

from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")

ACTORS = {
    "platform_admin": ("platform_admin", (), ()),
    "hangzhou_operator": ("city_operator", ("330100",), ()),
    "shenzhen_operator": ("city_operator", ("440300",), ()),
    "wechat_admin": ("channel_admin", (), ("wechat",)),
    "alipay_admin": ("channel_admin", (), ("alipay",)),
}
CHANGE = {"reason": "role matrix", "enabled": False}
HANGZHOU_WECHAT_FUND = "/admin/api/cities/330100/services/housing_fund/channels/wechat"
NEW_STAFF = {
    "username": "new.operator",
    "display_name": "New",
    "password": "a long enough password",
    "role": "city_operator",
    "cities": ["330100"],
    "reason": "hired",
}


@pytest.fixture
def token_of(make_staff):
    def token(actor: str) -> str:
        role, cities, channels = ACTORS[actor]
        return make_staff(actor.replace("_", "."), role, cities, channels)

    return token


@pytest.mark.parametrize(
    ("actor", "expected", "channels"),
    [
        ("platform_admin", 200, {"wechat", "alipay"}),
        ("hangzhou_operator", 200, {"wechat", "alipay"}),
        ("shenzhen_operator", 403, None),
        ("wechat_admin", 200, {"wechat"}),
        ("alipay_admin", 200, {"alipay"}),
    ],
)
def test_viewing_hangzhou_catalogue(api: Api, token_of, actor: str, expected: int, channels: set[str] | None) -> None:
    body = api.get("/admin/api/cities/330100/catalogue", token=token_of(actor), expected=expected)
    if channels is None:
        assert body["error"]["code"] == "auth.city_out_of_scope"
    else:
        assert {o["channel"] for o in body["offerings"]} == channels
        assert len(body["offerings"]) == 3 * len(channels)


@pytest.mark.parametrize(
    ("actor", "expected", "code"),
    [
        ("platform_admin", 200, None),
        ("hangzhou_operator", 200, None),
        ("shenzhen_operator", 403, "auth.city_out_of_scope"),
        ("wechat_admin", 403, "auth.forbidden"),
        ("alipay_admin", 403, "auth.forbidden"),
    ],
)
def test_changing_a_hangzhou_offering(api: Api, token_of, actor: str, expected: int, code: str | None) -> None:
    body = api.patch(HANGZHOU_WECHAT_FUND, json=CHANGE, token=token_of(actor), expected=expected)
    tiles = api.get("/api/v1/cities/330100/services?channel=wechat")["tiles"]
    if code is None:
        assert body["enabled"] is False and tiles[0]["state"] == "unavailable"
    else:
        assert body["error"]["code"] == code
        assert tiles[0]["state"] == "available"


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("platform_admin", 200),
        ("hangzhou_operator", 200),
        ("shenzhen_operator", 403),
        ("wechat_admin", 200),
        ("alipay_admin", 200),
    ],
)
def test_reading_the_audit_log_of_hangzhou(api: Api, token_of, actor: str, expected: int) -> None:
    api.get("/admin/api/audit-log?city=330100", token=token_of(actor), expected=expected)


def test_audit_log_is_scoped_to_what_each_reader_may_see(api: Api, token_of) -> None:
    admin = token_of("platform_admin")
    api.patch(HANGZHOU_WECHAT_FUND, json=CHANGE, token=admin)
    api.patch("/admin/api/cities/440300/services/car_move/channels/alipay", json=CHANGE, token=admin)
    targets = {
        actor: [e["target"] for e in api.get("/admin/api/audit-log", token=token_of(actor))["entries"]]
        for actor in ACTORS
        if actor != "platform_admin"
    }
    assert targets == {
        "hangzhou_operator": ["330100/housing_fund/wechat"],
        "shenzhen_operator": ["440300/car_move/alipay"],
        "wechat_admin": ["330100/housing_fund/wechat"],
        "alipay_admin": ["440300/car_move/alipay"],
    }
    assert len(api.get("/admin/api/audit-log", token=admin)["entries"]) == 2


@pytest.mark.parametrize(
    ("actor", "expected"),
    [
        ("platform_admin", 201),
        ("hangzhou_operator", 403),
        ("shenzhen_operator", 403),
        ("wechat_admin", 403),
        ("alipay_admin", 403),
    ],
)
def test_creating_staff(api: Api, token_of, actor: str, expected: int) -> None:
    token = token_of(actor)
    api.post("/admin/api/staff", json=NEW_STAFF, token=token, expected=expected)
    api.get("/admin/api/staff", token=token, expected=200 if expected == 201 else 403)


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/admin/api/me"),
        ("GET", "/admin/api/cities/330100/catalogue"),
        ("PATCH", HANGZHOU_WECHAT_FUND),
        ("GET", "/admin/api/audit-log"),
        ("GET", "/admin/api/staff"),
        ("POST", "/admin/api/staff"),
        ("DELETE", "/admin/api/sessions/current"),
    ],
)
def test_every_admin_endpoint_needs_a_token(api: Api, method: str, path: str) -> None:
    body = api.call(method, path, json={}, expected=401)
    assert body["error"]["code"] == "auth.required"


@pytest.mark.parametrize("city", ["330100", "440300"])
def test_an_operator_of_two_cities_operates_both(api: Api, make_staff, city: str) -> None:
    # Listed in an order where the city under test is first in one case and last in the other.
    token = make_staff("two.cities", "city_operator", ("440300", "330100"))
    api.get(f"/admin/api/cities/{city}/catalogue", token=token)
    body = api.patch(f"/admin/api/cities/{city}/services/car_move/channels/alipay", json=CHANGE, token=token)
    assert body["enabled"] is False
    assert [e["city"] for e in api.get(f"/admin/api/audit-log?city={city}", token=token)["entries"]] == [city]
