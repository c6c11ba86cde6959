"""Strict text at the HTTP boundary, and reading that survives a bad stored row, on SQLite and PostgreSQL."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from city_services.catalogue import bump_revision
from city_services.models import Offering
from database import transaction
from identity.fake_channels import FakeChannel
from identity.id_numbers import check_digit
from identity.models import AuditEntry
from identity.models import StaffMember
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")


def with_check_digit(first_seventeen: str) -> str:
    return first_seventeen + check_digit(first_seventeen)


HANGZHOU_FUND = "/admin/api/cities/330100/services/housing_fund/channels/wechat"
ALL_DAY = {"opens_at": None, "closes_at": None}
WINDOW = {"starts_at": "2026-11-19T10:00:00+08:00", "ends_at": "2026-11-19T12:00:00+08:00", "message_zh": "停"}


@pytest.fixture
def admin(make_staff) -> str:
    return make_staff("root", "platform_admin")


def outcome(api: Api, method: str, path: str, token: str | None = None, **kwargs: object) -> tuple[int, str | None]:
    """(status, error code) of one request, for tests that try many bad inputs in one app."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = api.client.open(path, method=method, headers=headers, **kwargs)
    body = response.get_json(silent=True) or {}
    return response.status_code, body.get("error", {}).get("code")


def tiles(api: Api, city: str) -> dict[str, str]:
    body = api.get(f"/api/v1/cities/{city}/services?channel=wechat")
    return {tile["code"]: tile["state"] for tile in body["tiles"]}


LOOSE_CATALOGUE_CHANGES = [
    {"hours": {**ALL_DAY, "weekdays": "12345\n"}},
    {"hours": {"opens_at": "08:00\n", "closes_at": "18:00", "weekdays": "12345"}},
    {"hours": {"opens_at": "０８:００", "closes_at": "18:00"}},
    {"hours": {**ALL_DAY, "weekdays": "١٢٣"}},
    {"maintenance_windows": [{**WINDOW, "message_zh": "停\u202e机"}]},
    {"maintenance_windows": [{**WINDOW, "message_en": "down\nfor a bit"}]},
    {"maintenance_windows": [{**WINDOW, "starts_at": WINDOW["starts_at"] + "\n"}]},
    {"reason": "fixing\u0007"},
    {"reason": "\u200b"},
]


def test_catalogue_text_that_is_not_whole_and_clean_is_refused_and_every_city_keeps_its_tiles(
    api: Api, admin: str, session: Session
) -> None:
    answers = [
        outcome(api, "PATCH", HANGZHOU_FUND, admin, json={"reason": "x", **change})
        for change in LOOSE_CATALOGUE_CHANGES
    ]
    assert answers == [(422, "request.invalid")] * len(LOOSE_CATALOGUE_CHANGES)
    assert session.scalars(select(AuditEntry)).all() == []
    assert set(tiles(api, "330100").values()) == {"available"}
    assert set(tiles(api, "440300").values()) == {"available"}


NEW_OPERATOR = {
    "username": "new.operator",
    "display_name": "New operator",
    "password": "a long enough password",
    "role": "city_operator",
    "cities": ["330100"],
    "reason": "hired",
}
LOOSE_STAFF = [
    ({"username": "admin\n"}, "request.invalid"),
    ({"username": "ａｄｍｉｎ"}, "request.invalid"),
    ({"display_name": "Ada\u202e"}, "request.invalid"),
    ({"display_name": "   "}, "request.invalid"),
    ({"cities": ["330100\n"]}, "request.invalid"),
    ({"cities": ["３３０１００"]}, "request.invalid"),
    ({"cities": ["330100", "330100"]}, "request.invalid"),
    ({"cities": [f"{n:06d}" for n in range(110000, 110051)]}, "request.invalid"),
    ({"cities": ["110100"]}, "staff.unknown_city"),
    ({"cities": ["330100", "110100"]}, "staff.unknown_city"),
    ({"role": "channel_admin", "cities": [], "channels": ["wechat", "wechat"]}, "request.invalid"),
    ({"password": " " * 12}, "request.invalid"),
    ({"password": " " * 11 + "x"}, "staff.weak_password"),
    ({"password": "aaaaaaaaaaaaaaaa"}, "staff.weak_password"),
    ({"password": "abcabcabcabcabc"}, "staff.weak_password"),
    ({"password": "long enough\tpassword"}, "request.invalid"),
    ({"reason": "   "}, "request.invalid"),
    ({"reason": "hired\n"}, "request.invalid"),
]


def test_staff_accounts_refuse_loose_text_unserved_cities_repeats_and_hollow_passwords(
    api: Api, admin: str, session: Session
) -> None:
    answers = [
        outcome(api, "POST", "/admin/api/staff", admin, json={**NEW_OPERATOR, **change}) for change, _ in LOOSE_STAFF
    ]
    assert answers == [(422, code) for _, code in LOOSE_STAFF]
    assert session.scalar(select(StaffMember).where(StaffMember.role != "platform_admin")) is None
    two_cities = {**NEW_OPERATOR, "cities": ["440300", "330100"]}
    assert api.post("/admin/api/staff", json=two_cities, token=admin, expected=201)["cities"] == ["440300", "330100"]


def test_audit_queries_are_whole_ascii_values(api: Api, admin: str) -> None:
    queries = [
        "city=330100%0A",
        "city=%EF%BC%93%EF%BC%93%EF%BC%90%EF%BC%91%EF%BC%90%EF%BC%90",
        "limit=%EF%BC%95",
        "limit=5%0A",
        "before_id=%205",
    ]
    answers = [outcome(api, "GET", f"/admin/api/audit-log?{query}", admin) for query in queries]
    assert answers == [(422, "request.invalid")] * len(queries)


@pytest.mark.parametrize(
    ("stored", "value"), [("open_weekdays", "\n12345"), ("open_weekdays", "１２３"), ("opens_at", "8am")]
)
def test_one_unreadable_stored_offering_shows_unavailable_logged_and_harms_nothing_else(
    api: Api, admin: str, session: Session, caplog: pytest.LogCaptureFixture, stored: str, value: str
) -> None:
    # Written around the rules, as an old release, a manual fix or another tool might have.
    where = (Offering.city_code == "330100", Offering.service_code == "housing_fund", Offering.channel == "wechat")
    with transaction(session):
        closing = {"closes_at": "18:00"} if stored == "opens_at" else {}
        session.execute(update(Offering).where(*where).values({stored: value, **closing}))
        bump_revision(session)
    logger = logging.getLogger("citytiles.catalogue")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.WARNING, logger="citytiles.catalogue")
    try:
        assert tiles(api, "330100") == {
            "housing_fund": "unavailable",
            "car_move": "available",
            "outpatient": "available",
        }
        assert set(tiles(api, "440300").values()) == {"available"}
        offerings = api.get("/admin/api/cities/330100/catalogue", token=admin)["offerings"]
    finally:
        logger.removeHandler(caplog.handler)
    states = {(o["service"], o["channel"]): o["state"] for o in offerings}
    assert states.pop(("housing_fund", "wechat")) == "unavailable"
    assert set(states.values()) == {"available"}
    warnings = [r for r in caplog.records if r.name == "citytiles.catalogue"]
    assert warnings and all(r.levelno == logging.WARNING for r in warnings)
    assert {(r.city, r.service, r.channel, r.problem) for r in warnings} == {  # type: ignore[attr-defined]
        ("330100", "housing_fund", "wechat", "catalogue.invalid_hours")
    }
    # An operator can still repair it through the API.
    repair = {"reason": "repair", "hours": {**ALL_DAY, "weekdays": "1234567"}}
    api.patch(HANGZHOU_FUND, json=repair, token=admin)
    assert tiles(api, "330100")["housing_fund"] == "available"


LOOSE_REAL_NAMES = [
    ("张三\n", "11010519491231002X", "request.invalid"),
    ("张\u200d三", "11010519491231002X", "request.invalid"),
    ("䷀䷁", "11010519491231002X", "identity.invalid_name"),
    ("张··三", "11010519491231002X", "identity.invalid_name"),
    ("A----", "11010519491231002X", "identity.invalid_name"),
    ("张三", "11010519491231002X\n", "request.invalid"),
    ("张三", with_check_digit("00010519491231002"), "identity.invalid_id_number"),
    ("张三", with_check_digit("99010519491231002"), "identity.invalid_id_number"),
    ("张三", "440524188001010014", "identity.invalid_id_number"),
    ("张三", with_check_digit("11010520261119001"), "identity.invalid_id_number"),
]


def test_real_names_need_name_characters_and_plausible_id_numbers(api: Api, fake_wechat: FakeChannel) -> None:
    login_code, _ = fake_wechat.issue_code("o-1", real_name="张三", id_number="11010519491231002X")
    session = {"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": login_code}
    token = api.post("/api/v1/sessions", json=session, expected=201)["token"]
    answers = [
        outcome(
            api, "POST", "/api/v1/me/real-name", token, json={"name": n, "id_number": i, "consent_version": "2026-11"}
        )
        for n, i, _ in LOOSE_REAL_NAMES
    ]
    assert answers == [(422, code) for _, _, code in LOOSE_REAL_NAMES]


def test_logins_are_whole_values(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    bodies = [
        ("/api/v1/sessions", {"channel": "wechat\n", "app_id": WECHAT_MINI_PROGRAM, "code": "c"}),
        ("/api/v1/sessions", {"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM + "\n", "code": "c"}),
        ("/api/v1/sessions", {"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": "c\n"}),
        ("/admin/api/sessions", {"username": "ada\n", "password": "correct horse battery staple"}),
    ]
    answers = [outcome(api, "POST", path, json=body) for path, body in bodies]
    assert answers == [(422, "request.invalid")] * len(bodies)


def test_a_phone_number_the_channel_sends_loose_is_not_stored(api: Api, fake_wechat: FakeChannel) -> None:
    login_code, _ = fake_wechat.issue_code("o-1")
    login = {"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": login_code}
    token = api.post("/api/v1/sessions", json=login, expected=201)["token"]
    for phone in ("1381234567\n", "１３８１２３４５６７８", "138 1234 5678"):
        phone_code, _ = fake_wechat.issue_code("o-1", phone=phone)
        assert outcome(api, "POST", "/api/v1/me/phone", token, json={"code": phone_code}) == (
            503,
            "channel.unavailable",
        )
    assert api.get("/api/v1/me", token=token)["phone"] is None


@pytest.mark.parametrize(
    "path",
    [
        "/admin/api/cities/330100%0A/catalogue",
        "/api/v1/consent-texts/%E2%80%AE",
        "/api/v1/cities/%00/services?channel=wechat",
        "/api/v1/cities/330100%0A/services?channel=wechat",
    ],
)
def test_path_values_with_control_characters_name_nothing_and_are_not_echoed(api: Api, make_staff, path: str) -> None:
    token = make_staff("root", "platform_admin")
    response = api.client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "request.route_not_found"
    assert not any(c in response.get_data(as_text=True) for c in ("\\n", "\\u202e", "\\u0000", "\u202e"))


def test_a_query_parameter_given_twice_is_refused(api: Api) -> None:
    body = api.get("/api/v1/cities/330100/services?channel=wechat&channel=alipay", expected=422)
    assert body["error"]["details"]["fields"] == {"channel": ["Give this parameter once."]}
