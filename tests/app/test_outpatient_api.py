"""Outpatient appointments through the API, both cities and channels, against the sandbox's hospital platforms."""

from __future__ import annotations

import itertools
import logging
import secrets
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.service import expire_holds
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from config import Settings
from identity.id_numbers import check_digit
from tests.concurrency import run_together
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox
from tests.contracts.test_outpatient_providers import new_patient
from tests.contracts.test_outpatient_providers import sandbox_provider
from tests.contracts.test_outpatient_providers import stub_upstream

MINI, ALIPAY = "wx7c1b5d1e2f3a4b50", "2021004100000001"
NAME = "林晓雯"
# city -> (system, hospital, paid department, free department, fault target)
CITIES = {
    "330100": ("zheyi_his", "ZY01", "ZY01-XHNK", "ZY01-BMMZ"),
    "440300": ("shenzhen_health_platform", "440301001", "1001", "1009"),
}
PATHS = {"zheyi_his": "/upstreams/zheyi-his/fhir", "shenzhen_health_platform": "/upstreams/shenzhen-health/open/v1"}
_serial = itertools.count(1)
_run = secrets.randbelow(900) + 100


def id_number() -> str:
    """A well-formed ID number nobody else in this run has (the platforms allow one place per patient a day)."""
    born = date(1980, 1, 1) + timedelta(days=next(_serial))
    first = f"440305{born:%Y%m%d}{_run:03d}"
    return first + check_digit(first)


@pytest.fixture(name="clock")
def wall_clock_fixture() -> Clock:
    """Now: the sandbox's hospitals publish the week from today."""
    return Clock(datetime.now(UTC))


@pytest.fixture(name="settings")
def sandbox_settings(database_url: str, clean_sandbox: Sandbox, tmp_path: Path) -> Settings:
    """The demo's connections and channels at the test sandbox."""
    return replace(clean_sandbox.service_settings(tmp_path, database_url=database_url), app_env="test")


@pytest.fixture(name="app")
def outpatient_app_fixture(settings: Settings, clock: Clock, clean_sandbox: Sandbox) -> Iterator[Flask]:
    """citytiles with the real channel and hospital adapters, the demo catalogue seeded."""
    application = create_app(settings, clock=clock)
    application.testing = True
    with application.extensions["session_factory"]() as session:
        seed_catalogue(session, read_seed(settings.catalogue_seed), now=clock())
    clean_sandbox.helper("DELETE", "outpatient/holds")
    yield application
    application.extensions["engine"].dispose()


def resident(api: Api, sandbox: Sandbox, channel: str = "wechat", *, verified: bool = True, number: str = "") -> str:
    """A resident logged in through the channel, with a verified real name unless told otherwise."""
    person = {"real_name": NAME, "id_number": number or id_number()}
    if channel == "wechat":
        code = sandbox.wechat_code(MINI, **person)["code"]
        body = {"channel": "wechat", "app_id": MINI, "code": code}
    else:
        body = {"channel": "alipay", "app_id": ALIPAY, "code": sandbox.alipay_code(**person)["auth_code"]}
    token: str = api.post("/api/v1/sessions", json=body, expected=201)["token"]
    if verified:
        claim = {"name": NAME, "id_number": person["id_number"], "consent_version": "2026-11"}
        api.post("/api/v1/me/real-name", json=claim, token=token)
    return token


def day(offset: int = 1) -> date:
    return datetime.now(BEIJING).date() + timedelta(days=offset)


def schedules(api: Api, token: str, city: str, department: str, offset: int = 1) -> list[dict[str, Any]]:
    hospital = CITIES[city][1]
    path = f"/api/v1/cities/{city}/hospitals/{hospital}/departments/{department}/schedules?date={day(offset)}"
    slots: list[dict[str, Any]] = api.get(path, token=token)["slots"]
    return slots


def choice(city: str, department: str, slot: dict[str, Any]) -> dict[str, str]:
    return {"city": city, "hospital_id": CITIES[city][1], "department_id": department, "slot_id": slot["id"]}


def record(sandbox: Sandbox, city: str, slot_id: str) -> dict[str, Any]:
    """The hospital platform's own record of a slot: places left and holds."""
    found: dict[str, Any] = sandbox.helper("GET", f"outpatient/slots/{CITIES[city][0]}/{slot_id}")
    return found


@pytest.mark.parametrize(("city", "channel"), [("330100", "wechat"), ("440300", "alipay"), ("440300", "wechat")])
def test_search_hold_read_and_cancel(
    api: Api, clean_sandbox: Sandbox, city: str, channel: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    number = id_number()
    try:
        hold_read_and_cancel(api, clean_sandbox, city, channel, number)
    finally:
        logger.removeHandler(caplog.handler)
    assert any(r.name == "citytiles.outbound" and r.connection == f"upstream.{city}.outpatient" for r in caplog.records)
    for personal in (number, number[-8:], NAME):
        assert personal not in caplog.text


def hold_read_and_cancel(api: Api, clean_sandbox: Sandbox, city: str, channel: str, number: str) -> None:
    token = resident(api, clean_sandbox, channel, number=number)
    system, hospital, paid, free = CITIES[city]
    hospitals = api.get(f"/api/v1/cities/{city}/hospitals", token=token)["hospitals"]
    assert hospital in {h["id"] for h in hospitals}
    departments = api.get(f"/api/v1/cities/{city}/hospitals/{hospital}/departments", token=token)["departments"]
    assert {paid, free} <= {d["id"] for d in departments}
    slot = next(s for s in schedules(api, token, city, paid) if s["remaining"] > 0)
    assert slot["fee_fen"] > 0 and slot["doctor"]
    held = api.post("/api/v1/appointments", json=choice(city, paid, slot), token=token, expected=201)
    assert (held["status"], held["fee_fen"], held["slot_id"]) == ("held", slot["fee_fen"], slot["id"])
    assert held["hospital_name"] == next(h["name"] for h in hospitals if h["id"] == hospital)
    assert held["department_name"] == next(d["name"] for d in departments if d["id"] == paid)
    assert (held["starts_at"], held["ends_at"]) == (
        datetime.fromisoformat(slot["starts_at"]).astimezone(UTC).isoformat(),
        datetime.fromisoformat(slot["ends_at"]).astimezone(UTC).isoformat(),
    )
    assert datetime.fromisoformat(held["expires_at"]) > datetime.now(UTC)
    upstream = record(clean_sandbox, city, slot["id"])
    assert upstream["remaining"] == slot["remaining"] - 1
    assert [h["state"] for h in upstream["holds"]] == ["held"]
    assert api.get(f"/api/v1/appointments/{held['id']}", token=token) == held
    assert [a["id"] for a in api.get("/api/v1/me/appointments", token=token)["appointments"]] == [held["id"]]
    cancelled = api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token)
    assert cancelled["status"] == "cancelled" and cancelled["expires_at"] is None
    upstream = record(clean_sandbox, city, slot["id"])
    assert upstream["remaining"] == slot["remaining"] and [h["state"] for h in upstream["holds"]] == ["cancelled"]
    assert api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token)["status"] == "cancelled"
    # A place given back may be taken again, in the same department that day.
    again = api.post("/api/v1/appointments", json=choice(city, paid, slot), token=token, expected=201)
    assert again["status"] == "held"


@pytest.mark.parametrize("city", CITIES)
def test_a_free_slot_is_confirmed_at_once(api: Api, clean_sandbox: Sandbox, city: str) -> None:
    token = resident(api, clean_sandbox, "alipay")
    free = CITIES[city][3]
    slot = next(s for s in schedules(api, token, city, free) if s["fee_fen"] == 0 and s["remaining"] > 0)
    booked = api.post("/api/v1/appointments", json=choice(city, free, slot), token=token, expected=201)
    assert (booked["status"], booked["fee_fen"], booked["expires_at"]) == ("confirmed", 0, None)
    assert [h["state"] for h in record(clean_sandbox, city, slot["id"])["holds"]] == ["booked"]


def test_unknown_things_are_404_and_bad_input_422(api: Api, clean_sandbox: Sandbox) -> None:
    token = resident(api, clean_sandbox)
    base = "/api/v1/cities/330100/hospitals"

    def code(path: str, expected: int, **kwargs: Any) -> str:
        method = "POST" if "json" in kwargs else "GET"
        found: str = api.call(method, path, token=token, expected=expected, **kwargs)["error"]["code"]
        return found

    assert code("/api/v1/cities/999999/hospitals", 404) == "catalogue.city_not_found"
    assert code(f"{base}/ZY99/departments", 404) == "outpatient.hospital_not_found"
    assert code(f"{base}/ZY01/departments/ZY01-NOPE/schedules?date={day()}", 404) == "outpatient.department_not_found"
    assert code(f"{base}/ZY01/departments/ZY02-HXNK/schedules?date={day()}", 404) == "outpatient.department_not_found"
    assert code(f"{base}/ZY01/departments/ZY01%20X/schedules?date={day()}", 404) == "outpatient.department_not_found"
    assert code(f"{base}/ZY01/departments/ZY01-XHNK/schedules?date={day(7)}", 422) == "outpatient.date_out_of_range"
    assert code(f"{base}/ZY01/departments/ZY01-XHNK/schedules?date={day(-1)}", 422) == "outpatient.date_out_of_range"
    for bad in ("2026-02-30", "20261124", f"{day()}T00:00", ""):
        assert code(f"{base}/ZY01/departments/ZY01-XHNK/schedules?date={bad}", 422) == "request.invalid"
    assert code(f"{base}/ZY01/departments/ZY01-XHNK/schedules", 422) == "request.invalid"
    hold = {
        "city": "330100",
        "hospital_id": "ZY01",
        "department_id": "ZY01-XHNK",
        "slot_id": "ZY01-XHNK-D01-20000101-0800",
    }
    assert code("/api/v1/appointments", 404, json=hold) == "outpatient.slot_not_found"
    assert code("/api/v1/appointments", 404, json={**hold, "city": "999999"}) == "catalogue.city_not_found"
    assert code("/api/v1/appointments", 422, json={**hold, "slot_id": "a/b"}) == "request.invalid"
    assert code("/api/v1/appointments", 422, json={**hold, "extra": 1}) == "request.invalid"
    assert code("/api/v1/appointments", 422, json={"city": "330100"}) == "request.invalid"
    slot = schedules(api, token, "440300", "1001")[0]
    # A Shenzhen slot asked of Hangzhou's hospital is no slot there.
    assert code("/api/v1/appointments", 404, json={**hold, "slot_id": slot["id"]}) == "outpatient.slot_not_found"
    assert code("/api/v1/appointments/ap00000000000000000000", 404) == "outpatient.appointment_not_found"
    assert code("/api/v1/appointments/nope", 404) == "outpatient.appointment_not_found"


def test_holding_needs_a_verified_real_name_and_an_appointment_is_its_residents_own(
    api: Api, clean_sandbox: Sandbox
) -> None:
    stranger = resident(api, clean_sandbox, verified=False)
    token = resident(api, clean_sandbox)
    slot = next(s for s in schedules(api, token, "330100", "ZY01-XHNK") if s["remaining"] > 0)
    body = choice("330100", "ZY01-XHNK", slot)
    refused = api.post("/api/v1/appointments", json=body, token=stranger, expected=403)
    assert refused["error"]["code"] == "outpatient.real_name_required"
    assert record(clean_sandbox, "330100", slot["id"])["holds"] == []
    held = api.post("/api/v1/appointments", json=body, token=token, expected=201)
    for path in (f"/api/v1/appointments/{held['id']}", f"/api/v1/appointments/{held['id']}/cancel"):
        method = "POST" if path.endswith("cancel") else "GET"
        assert (
            api.call(method, path, token=stranger, expected=404)["error"]["code"] == "outpatient.appointment_not_found"
        )
    assert api.get("/api/v1/me/appointments", token=stranger)["appointments"] == []
    assert api.get(f"/api/v1/appointments/{held['id']}", token=token)["status"] == "held"


@pytest.mark.parametrize("city", CITIES)
@pytest.mark.parametrize("mode", ["down", "error"])
def test_an_upstream_down_or_busy_is_503_with_retry_after(
    api: Api, clean_sandbox: Sandbox, city: str, mode: str
) -> None:
    token = resident(api, clean_sandbox)
    target = f"outpatient.{CITIES[city][0]}"
    clean_sandbox.helper("POST", "faults", json={"target": target, "mode": mode, "persistent": True})
    response = api.client.get(f"/api/v1/cities/{city}/hospitals", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]["code"] == "upstream.unavailable"


@pytest.mark.parametrize("city", CITIES)
def test_a_malformed_answer_is_503_and_logged(
    api: Api, clean_sandbox: Sandbox, make_staff: Any, session: Session, city: str, caplog: pytest.LogCaptureFixture
) -> None:
    admin = make_staff("root", "platform_admin")
    token = resident(api, clean_sandbox)
    slot = next(s for s in schedules(api, token, city, CITIES[city][2]) if s["remaining"] > 0)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        with stub_upstream("text/html", b"<html>502 Bad Gateway</html>") as base_url:
            stored = api.get(f"/admin/api/cities/{city}/upstreams", token=admin)["connections"]
            params = next(c["params"] for c in stored if c["service"] == "outpatient")
            change = {"params": {**params, "base_url": base_url}, "reason": "moved behind the new gateway"}
            api.patch(f"/admin/api/cities/{city}/upstreams/outpatient", json=change, token=admin)
            for method, path, body in (
                ("GET", f"/api/v1/cities/{city}/hospitals", None),
                ("POST", "/api/v1/appointments", choice(city, CITIES[city][2], slot)),
            ):
                response = api.client.open(path, method=method, json=body, headers={"Authorization": f"Bearer {token}"})
                assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
                assert response.get_json()["error"]["code"] == "upstream.unavailable"
    finally:
        logger.removeHandler(caplog.handler)
    assert any(r.getMessage() == "upstream answer unreadable" for r in caplog.records)
    assert session.scalar(select(func.count(Appointment.id))) == 0


def test_a_disabled_offering_is_409(api: Api, clean_sandbox: Sandbox, make_staff: Any) -> None:
    admin = make_staff("root", "platform_admin")
    token = resident(api, clean_sandbox, "alipay")
    offering = "/admin/api/cities/440300/services/outpatient/channels/alipay"
    api.patch(offering, json={"enabled": False, "reason": "hospital platform migration"}, token=admin)
    body = api.get("/api/v1/cities/440300/hospitals", token=token, expected=409)
    assert body["error"]["code"] == "service.not_offered"
    wechat = resident(api, clean_sandbox, "wechat")
    assert api.get("/api/v1/cities/440300/hospitals", token=wechat)["hospitals"]


def test_a_held_appointment_reads_expired_after_its_time(
    app: Flask, api: Api, clean_sandbox: Sandbox, clock: Clock, session: Session
) -> None:
    token = resident(api, clean_sandbox)
    slot = next(s for s in schedules(api, token, "330100", "ZY01-XHNK") if s["remaining"] > 0)
    held = api.post("/api/v1/appointments", json=choice("330100", "ZY01-XHNK", slot), token=token, expected=201)
    clock.now = datetime.fromisoformat(held["expires_at"]) + timedelta(seconds=1)
    expired = api.get(f"/api/v1/appointments/{held['id']}", token=token)
    assert (expired["status"], expired["expires_at"]) == ("expired", None)
    assert api.get("/api/v1/me/appointments", token=token)["appointments"][0]["status"] == "expired"
    refused = api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token, expected=409)
    assert refused["error"]["code"] == "outpatient.hold_expired"
    assert "expired 1 appointment holds" in app.test_cli_runner().invoke(args=["expire-appointment-holds"]).output
    assert session.scalar(select(Appointment.status).where(Appointment.public_id == held["id"])) == "expired"
    assert expire_holds(session, clock()) == 0


@pytest.mark.parametrize("city", CITIES)
def test_parallel_holds_of_the_last_place_one_wins_the_rest_409(
    app: Flask, api: Api, clean_sandbox: Sandbox, city: str
) -> None:
    system, hospital, paid, _ = CITIES[city]
    tokens = [resident(api, clean_sandbox) for _ in range(5)]
    slot = min((s for s in schedules(api, tokens[0], city, paid) if s["remaining"] > 0), key=lambda s: s["remaining"])
    platform = sandbox_provider(clean_sandbox, system, clean_sandbox.base + PATHS[system])
    found = platform.slot(hospital, paid, slot["id"])
    for _ in range(found.remaining - 1):
        platform.hold(found, new_patient(), f"ct{secrets.token_hex(8)}")
    assert record(clean_sandbox, city, slot["id"])["remaining"] == 1

    def hold(index: int) -> tuple[int, Any]:
        response = app.test_client().post(
            "/api/v1/appointments",
            json=choice(city, paid, slot),
            headers={"Authorization": f"Bearer {tokens[index]}"},
        )
        return response.status_code, response.get_json()

    results = run_together(len(tokens), hold)
    assert sorted(status for status, _ in results) == [201] + [409] * 4, results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"outpatient.slot_unavailable"}
    assert record(clean_sandbox, city, slot["id"])["remaining"] == 0


def test_one_per_department_per_day_under_parallel_requests(
    app: Flask, api: Api, clean_sandbox: Sandbox, session: Session
) -> None:
    token = resident(api, clean_sandbox)
    slots = [s for s in schedules(api, token, "330100", "ZY01-XHNK", 2) if s["remaining"] > 0][:4]
    slots += [s for s in schedules(api, token, "330100", "ZY01-XHNK", 3) if s["remaining"] > 0][:2]

    def hold(index: int) -> tuple[int, Any]:
        response = app.test_client().post(
            "/api/v1/appointments",
            json=choice("330100", "ZY01-XHNK", slots[index]),
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code, response.get_json()

    results = run_together(len(slots), hold)
    by_day = {day(2).isoformat(): [], day(3).isoformat(): []}  # type: dict[str, list[int]]
    for (status, _), slot in zip(results, slots, strict=True):
        by_day[slot["starts_at"][:10]].append(status)
    assert sorted(by_day[day(2).isoformat()]) == [201, 409, 409, 409], results
    assert sorted(by_day[day(3).isoformat()]) == [201, 409], results
    codes = {body["error"]["code"] for status, body in results if status == 409}
    assert codes == {"outpatient.one_per_department_per_day"}
    assert session.scalar(select(func.count(Appointment.id))) == 2


def test_the_same_department_code_at_another_hospital_is_another_department(api: Api, clean_sandbox: Sandbox) -> None:
    token = resident(api, clean_sandbox, "alipay")
    for hospital in ("440301001", "440301002"):
        path = f"/api/v1/cities/440300/hospitals/{hospital}/departments/1001/schedules?date={day()}"
        slot = next(s for s in api.get(path, token=token)["slots"] if s["remaining"] > 0)
        body = {"city": "440300", "hospital_id": hospital, "department_id": "1001", "slot_id": slot["id"]}
        assert api.post("/api/v1/appointments", json=body, token=token, expected=201)["hospital_id"] == hospital


def test_the_weekly_limit_holds_under_parallel_requests(app: Flask, api: Api, clean_sandbox: Sandbox) -> None:
    token = resident(api, clean_sandbox)
    wanted = [(department, offset) for department in ("ZY01-XHNK", "ZY01-BMMZ") for offset in (1, 2, 3)]
    picks = [
        (department, next(s for s in schedules(api, token, "330100", department, offset) if s["remaining"] > 0))
        for department, offset in wanted
    ]

    def hold(index: int) -> tuple[int, Any, str | None]:
        department, slot = picks[index]
        response = app.test_client().post(
            "/api/v1/appointments",
            json=choice("330100", department, slot),
            headers={"Authorization": f"Bearer {token}"},
        )
        return response.status_code, response.get_json(), response.headers.get("Retry-After")

    results = run_together(len(picks), hold)
    assert sorted(status for status, _, _ in results) == [201] * 3 + [429] * 3, results
    for status, body, retry_after in results:
        if status == 429:
            assert body["error"]["code"] == "outpatient.weekly_limit_reached"
            assert retry_after is not None and 0 < int(retry_after) <= 7 * 24 * 3600
    # Cancelling one makes room again.
    first = next(body for status, body, _ in results if status == 201)
    api.post(f"/api/v1/appointments/{first['id']}/cancel", token=token)
    department, slot = next(p for p, (status, _, _) in zip(picks, results, strict=True) if status == 429)
    api.post("/api/v1/appointments", json=choice("330100", department, slot), token=token, expected=201)


def test_erasure_removes_my_appointments(api: Api, clean_sandbox: Sandbox, session: Session) -> None:
    token = resident(api, clean_sandbox)
    other = resident(api, clean_sandbox)
    for who in (token, other):
        slot = next(s for s in schedules(api, who, "330100", "ZY01-XHNK") if s["remaining"] > 0)
        api.post("/api/v1/appointments", json=choice("330100", "ZY01-XHNK", slot), token=who, expected=201)
    assert session.scalar(select(func.count(Appointment.id))) == 2
    api.delete("/api/v1/me", token=token, expected=204)
    session.rollback()  # end the read snapshot taken before the erasure
    assert session.scalar(select(func.count(Appointment.id))) == 1
    assert len(api.get("/api/v1/me/appointments", token=other)["appointments"]) == 1


def test_a_hold_at_a_system_the_city_no_longer_uses_is_not_cancelled_at_the_new_one(
    api: Api, clean_sandbox: Sandbox, make_staff
) -> None:
    token = resident(api, clean_sandbox, number=id_number())
    _, hospital, paid, _ = CITIES["330100"]
    slot = next(s for s in schedules(api, token, "330100", paid) if s["remaining"] > 0)
    held = api.post("/api/v1/appointments", json=choice("330100", paid, slot), token=token, expected=201)
    operator = make_staff("ops", "platform_admin")
    change = {"reason": "moving to the provincial platform", "adapter": "fake", "params": {}}
    api.patch("/admin/api/cities/330100/upstreams/outpatient", json=change, token=operator)
    refused = api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token, expected=409)
    assert refused["error"]["code"] == "outpatient.system_changed"
    assert api.get(f"/api/v1/appointments/{held['id']}", token=token)["status"] == "held"
    assert [h["state"] for h in record(clean_sandbox, "330100", slot["id"])["holds"]] == ["held"]


def test_erasure_keeps_the_week_and_the_day_counted_for_the_same_person(api: Api, clean_sandbox: Sandbox) -> None:
    number = id_number()
    token = resident(api, clean_sandbox, number=number)
    free = CITIES["330100"][3]
    for offset in (1, 2, 3):
        slot = next(s for s in schedules(api, token, "330100", free, offset) if s["remaining"] > 0)
        booked = api.post("/api/v1/appointments", json=choice("330100", free, slot), token=token, expected=201)
        assert booked["status"] == "confirmed"
    api.delete("/api/v1/me", token=token, expected=204)
    # The same person, through another channel account, verifies the same ID number.
    again = resident(api, clean_sandbox, "alipay", number=number)
    same_day = next(s for s in schedules(api, again, "330100", free, 1) if s["remaining"] > 0)
    refused = api.post("/api/v1/appointments", json=choice("330100", free, same_day), token=again, expected=409)
    assert refused["error"]["code"] == "outpatient.one_per_department_per_day"
    paid = CITIES["330100"][2]
    slot = next(s for s in schedules(api, again, "330100", paid, 4) if s["remaining"] > 0)
    refused = api.post("/api/v1/appointments", json=choice("330100", paid, slot), token=again, expected=429)
    assert refused["error"]["code"] == "outpatient.weekly_limit_reached"
    # Somebody else is not held back by those marks.
    other = resident(api, clean_sandbox, "alipay")
    assert api.post("/api/v1/appointments", json=choice("330100", paid, slot), token=other, expected=201)


@pytest.mark.parametrize("city", CITIES)
def test_erasure_gives_held_places_back_to_the_hospital(api: Api, clean_sandbox: Sandbox, city: str) -> None:
    number = id_number()
    token = resident(api, clean_sandbox, number=number)
    paid = CITIES[city][2]
    slot = next(s for s in schedules(api, token, city, paid) if s["remaining"] > 0)
    held = api.post("/api/v1/appointments", json=choice(city, paid, slot), token=token, expected=201)
    assert held["status"] == "held"
    api.delete("/api/v1/me", token=token, expected=204)
    upstream = record(clean_sandbox, city, slot["id"])
    assert upstream["remaining"] == slot["remaining"] and [h["state"] for h in upstream["holds"]] == ["cancelled"]
    # Given back, it no longer counts: the same person may hold that department that day again.
    again = resident(api, clean_sandbox, "alipay", number=number)
    assert api.post("/api/v1/appointments", json=choice(city, paid, slot), token=again, expected=201)


def test_a_hospital_that_cannot_answer_does_not_stop_an_erasure_and_its_hold_still_counts(
    api: Api, clean_sandbox: Sandbox
) -> None:
    number = id_number()
    token = resident(api, clean_sandbox, number=number)
    system, _, paid, _ = CITIES["330100"]
    slot = next(s for s in schedules(api, token, "330100", paid) if s["remaining"] > 0)
    api.post("/api/v1/appointments", json=choice("330100", paid, slot), token=token, expected=201)
    fault = {"target": f"outpatient.{system}", "mode": "error", "persistent": True}
    clean_sandbox.helper("POST", "faults", json=fault)
    api.delete("/api/v1/me", token=token, expected=204)
    clean_sandbox.helper("DELETE", "faults")
    assert [h["state"] for h in record(clean_sandbox, "330100", slot["id"])["holds"]] == ["held"]
    again = resident(api, clean_sandbox, "alipay", number=number)
    refused = api.post("/api/v1/appointments", json=choice("330100", paid, slot), token=again, expected=409)
    assert refused["error"]["code"] == "outpatient.one_per_department_per_day"
