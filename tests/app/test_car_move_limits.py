"""Car-move limits on both databases: per requester per month, per plate, tuned per city, in parallel."""

from __future__ import annotations

import re
import secrets
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from database import transaction
from identity.models import AllowanceMark
from identity.models import AuditEntry
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.app.car_move_world import HANGZHOU
from tests.app.car_move_world import PLACE
from tests.app.car_move_world import SHENZHEN
from tests.app.car_move_world import ask
from tests.app.car_move_world import id_number
from tests.app.car_move_world import log_in
from tests.app.car_move_world import plate
from tests.app.car_move_world import register_at_police
from tests.app.car_move_world import service_api_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import service_app_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import shenzhen_owner
from tests.concurrency import run_together
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox


def registered_plates(sandbox: Sandbox, count: int) -> list[str]:
    plates = [plate("浙") for _ in range(count)]
    for car in plates:
        register_at_police(sandbox, car, id_number())
    return plates


def post(app: Flask, token: str, car: str) -> tuple[int, Any, str | None]:
    """One request from its own client, as another worker's connection would send it."""
    response = app.test_client().post(
        f"/api/v1/cities/{HANGZHOU}/car-move-requests",
        json={"plate": car, "location": PLACE},
        headers={"Authorization": f"Bearer {token}"},
    )
    return response.status_code, response.get_json(), response.headers.get("Retry-After")


def test_five_a_month_then_429_until_the_next_month_in_shanghai(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    openid = "o_month_" + secrets.token_hex(6)
    requester = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    plates = registered_plates(clean_sandbox, 6)
    for car in plates[:5]:
        ask(service_api, requester, car)
    status, body, retry_after = post(service_app, requester, plates[5])
    assert status == 429 and body["error"]["code"] == "car_move.monthly_quota_exceeded"
    # 2026-12-01 00:00 in Shanghai is 2026-11-30 16:00 UTC.
    assert int(retry_after or 0) == int((datetime(2026, 11, 30, 16, tzinfo=UTC) - clock()).total_seconds())
    clock.now = datetime(2026, 11, 30, 15, 59, 59, tzinfo=UTC)
    requester = log_in(service_api, clean_sandbox, "wechat", openid=openid)  # the same resident, a fresh token
    assert post(service_app, requester, plates[5])[0] == 429
    clock.advance(seconds=2)
    # December in Shanghai: our count starts again. The sandbox police keep their own count by the real
    # clock (November), so the sixth ticket is theirs to refuse: our limit let it through.
    status, body, _ = post(service_app, requester, plates[5])
    assert status == 409 and body["error"]["code"] == "car_move.police_monthly_limit", body


def test_one_live_request_per_plate_per_ten_minutes_from_anyone(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    [car] = registered_plates(clean_sandbox, 1)
    first, second = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    ask(service_api, first, car)
    clock.advance(minutes=4)
    status, body, retry_after = post(service_app, second, car)
    assert status == 429 and body["error"]["code"] == "car_move.plate_cooling_down"
    assert retry_after == "360"
    clock.advance(minutes=6)
    assert post(service_app, second, car)[0] == 201


def test_a_cancelled_request_frees_the_plate(service_api: Api, clean_sandbox: Sandbox) -> None:
    [car] = registered_plates(clean_sandbox, 1)
    first, second = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    created = ask(service_api, first, car)
    service_api.post(f"/api/v1/car-move-requests/{created['id']}/cancel", token=first)
    assert ask(service_api, second, car)["status"] == "notified"


def test_twenty_parallel_requests_never_exceed_the_month(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    requester = log_in(service_api, clean_sandbox, "wechat")
    plates = registered_plates(clean_sandbox, 20)
    results = run_together(20, lambda i: post(service_app, requester, plates[i]))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] * 5 + [429] * 15, [body for status, body, _ in results if status not in (201, 429)]
    assert {body["error"]["code"] for status, body, _ in results if status == 429} == {
        "car_move.monthly_quota_exceeded"
    }


def test_twenty_parallel_requesters_get_one_request_per_plate(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    [car] = registered_plates(clean_sandbox, 1)
    requesters = [log_in(service_api, clean_sandbox, "wechat") for _ in range(20)]
    results = run_together(20, lambda i: post(service_app, requesters[i], car))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [201] + [429] * 19, results
    assert {body["error"]["code"] for status, body, _ in results if status == 429} == {"car_move.plate_cooling_down"}


def test_operators_tune_a_city_with_a_reason(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    with service_app.extensions["session_factory"]() as db, transaction(db):
        create_staff_member(
            db, NewStaffMember("ops.hz", "Ops", STAFF_PASSWORD, "city_operator", ("330100",), ()), now=clock()
        )
    staff = service_api.post(
        "/admin/api/sessions", json={"username": "ops.hz", "password": STAFF_PASSWORD}, expected=201
    )
    token = staff["token"]
    rules = "/admin/api/cities/330100/car-move-rules"
    assert service_api.get(rules, token=token) == {
        "city": HANGZHOU,
        "monthly_requests": 5,
        "plate_cooldown_minutes": 10,
    }
    refused = service_api.patch(
        rules, json={"monthly_requests": 2, "plate_cooldown_minutes": 30, "reason": " "}, token=token, expected=422
    )
    assert refused["error"]["code"] in ("catalogue.reason_required", "request.invalid")
    service_api.patch(
        "/admin/api/cities/440300/car-move-rules",
        json={"monthly_requests": 2, "plate_cooldown_minutes": 30, "reason": "not mine"},
        token=token,
        expected=403,
    )
    changed = service_api.patch(
        rules, json={"monthly_requests": 2, "plate_cooldown_minutes": 30, "reason": "complaints"}, token=token
    )
    assert changed == {"city": HANGZHOU, "monthly_requests": 2, "plate_cooldown_minutes": 30}
    with service_app.extensions["session_factory"]() as db:
        entry = db.scalars(select(AuditEntry).where(AuditEntry.action == "car_move.limits_changed")).one()
        assert (entry.before, entry.after, entry.reason) == (
            {"monthly_requests": 5, "plate_cooldown_minutes": 10},
            {"monthly_requests": 2, "plate_cooldown_minutes": 30},
            "complaints",
        )
    requester, other = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    plates = registered_plates(clean_sandbox, 3)
    ask(service_api, requester, plates[0])
    ask(service_api, requester, plates[1])
    assert post(service_app, requester, plates[2])[1]["error"]["code"] == "car_move.monthly_quota_exceeded"
    clock.advance(minutes=20)
    status, body, retry_after = post(service_app, other, plates[0])
    assert status == 429 and retry_after == "600"


def test_an_owner_complaint_bars_that_requester_from_that_car(
    service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    pest, neighbour = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    created = ask(service_api, pest, car, SHENZHEN)
    service_api.post(f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "complaint"}, token=owner)
    clock.advance(minutes=11)
    barred = ask(service_api, pest, car, SHENZHEN, expected=403)
    assert barred["error"]["code"] == "car_move.owner_complained"
    assert ask(service_api, neighbour, car, SHENZHEN)["status"] == "awaiting_owner"


def test_erasing_and_logging_in_again_does_not_reset_the_month(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    openid = "o_erase_" + secrets.token_hex(6)
    requester = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    plates = registered_plates(clean_sandbox, 7)
    for car in plates[:5]:
        ask(service_api, requester, car)
    service_api.delete("/api/v1/me", token=requester, expected=204)
    again = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    status, body, _ = post(service_app, again, plates[5])
    assert status == 429 and body["error"]["code"] == "car_move.monthly_quota_exceeded", body
    # The marks are that account's: a neighbour's month is untouched.
    assert post(service_app, log_in(service_api, clean_sandbox, "wechat"), plates[6])[0] == 201


def test_the_month_follows_a_verified_person_to_another_channel(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    person = id_number()
    requester = log_in(service_api, clean_sandbox, "wechat", name="赵六", person=person)
    plates = registered_plates(clean_sandbox, 6)
    for car in plates[:5]:
        ask(service_api, requester, car)
    service_api.delete("/api/v1/me", token=requester, expected=204)
    unverified = log_in(service_api, clean_sandbox, "alipay")
    assert post(service_app, unverified, plates[5])[0] == 201
    verified = log_in(service_api, clean_sandbox, "alipay", name="赵六", person=person)
    status, body, _ = post(service_app, verified, plates[5])
    assert status == 429 and body["error"]["code"] in {"car_move.monthly_quota_exceeded", "car_move.plate_cooling_down"}
    status, body, _ = post(service_app, verified, registered_plates(clean_sandbox, 1)[0])
    assert status == 429 and body["error"]["code"] == "car_move.monthly_quota_exceeded", body


def test_an_owner_complaint_outlives_the_requesters_erasure(
    service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    openid = "o_pest_" + secrets.token_hex(6)
    pest = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    created = ask(service_api, pest, car, SHENZHEN)
    service_api.post(f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "complaint"}, token=owner)
    service_api.delete("/api/v1/me", token=pest, expected=204)
    clock.advance(minutes=11)
    pest = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    barred = ask(service_api, pest, car, SHENZHEN, expected=403)
    assert barred["error"]["code"] == "car_move.owner_complained"
    clock.advance(days=31)
    pest = log_in(service_api, clean_sandbox, "wechat", openid=openid)
    assert ask(service_api, pest, car, SHENZHEN)["status"] == "awaiting_owner"


@pytest.mark.parametrize("erased", ["requester", "owner"])
def test_a_plate_keeps_cooling_down_when_either_side_is_erased(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock, erased: str
) -> None:
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    first, second = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    ask(service_api, first, car, SHENZHEN)
    service_api.delete("/api/v1/me", token={"requester": first, "owner": owner}[erased], expected=204)
    clock.advance(minutes=4)
    refused = ask(service_api, second, car, SHENZHEN, expected=429)
    assert refused["error"]["code"] == "car_move.plate_cooling_down"
    clock.advance(minutes=6)
    ask(service_api, second, car, SHENZHEN)


def test_what_outlives_an_erasure_names_nobody_and_expires(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    with service_app.extensions["session_factory"]() as session:
        check_marks_of_one_erasure(service_api, clean_sandbox, clock, session)


def check_marks_of_one_erasure(service_api: Api, clean_sandbox: Sandbox, clock: Clock, session: Session) -> None:
    openid = "o_marks_" + secrets.token_hex(6)
    person = id_number()
    requester = log_in(service_api, clean_sandbox, "wechat", name="赵六", person=person, openid=openid)
    [car] = registered_plates(clean_sandbox, 1)
    ask(service_api, requester, car)
    service_api.delete("/api/v1/me", token=requester, expected=204)
    session.rollback()
    marks = session.scalars(select(AllowanceMark)).all()
    # The request counts in the month under the WeChat account and the ID number; the plate cools down.
    assert sorted(m.kind for m in marks) == ["car_move.live_request", "car_move.request", "car_move.request"]
    assert len({m.event for m in marks if m.kind == "car_move.request"}) == 1
    for mark in marks:
        stored = " ".join(str(value) for value in (mark.subject, mark.scope, mark.event))
        for personal in (openid, person, car, car[1:]):
            assert personal not in stored
        assert re.fullmatch(r"[0-9a-f]{64}", mark.subject)
    assert {m.until - m.at for m in marks} == {timedelta(days=32), timedelta(days=1)}
    # The next erasure sweeps marks whose window is over.
    clock.advance(days=33)
    other = log_in(service_api, clean_sandbox, "alipay")
    ask(service_api, other, registered_plates(clean_sandbox, 1)[0])
    service_api.delete("/api/v1/me", token=other, expected=204)
    session.rollback()
    assert {m.at for m in session.scalars(select(AllowanceMark))} == {clock()}
