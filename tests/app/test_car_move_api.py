"""Car move through the API on both databases, against the sandbox's traffic-police systems.

Hangzhou goes through zhejiang_traffic_police, which reaches owners itself; Shenzhen through
guangdong_traffic_police, which only confirms ownership, so its owners register with us and answer here.
"""

from __future__ import annotations

import base64
import json
import logging
import re
import secrets
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy import update

from app import create_app
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.models import OwnerAnswer
from city_services.car_move.owners import Swept
from city_services.car_move.owners import purge_locations
from city_services.car_move.owners import sweep_car_moves
from database import transaction
from identity.models import ChannelIdentity
from migrations.metadata import target_metadata
from tests.app.car_move_world import HANGZHOU
from tests.app.car_move_world import MINI
from tests.app.car_move_world import PLACE
from tests.app.car_move_world import SHENZHEN
from tests.app.car_move_world import SHENZHEN_OWNER_NAME
from tests.app.car_move_world import WECHAT_CAR_MOVE_NOTICE
from tests.app.car_move_world import ask
from tests.app.car_move_world import id_number
from tests.app.car_move_world import log_in
from tests.app.car_move_world import plate
from tests.app.car_move_world import register_at_police
from tests.app.car_move_world import service_api_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import service_app_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import shenzhen_owner
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox


def stalled_request(at: datetime) -> CarMoveRequest:
    """What a crash between reserving and sending leaves behind: a request of resident 1 still submitting."""
    return CarMoveRequest(
        public_id="cm_stalled",
        requester_id=1,
        city_code=HANGZHOU,
        adapter="zhejiang_traffic_police",
        request_no="ctstalled000",
        status="submitting",
        timeline=[],
        created_at=at,
        updated_at=at,
    )


def events(body: dict[str, Any]) -> list[str]:
    return [entry["event"] for entry in body["timeline"]]


def stored_text(app: Flask) -> str:
    """Every row of every table, as text."""
    with app.extensions["session_factory"]() as db:
        return "\n".join(
            str(row)
            for table in target_metadata.sorted_tables
            for row in db.execute(text(f"SELECT * FROM {table.name}"))
        )


def test_hangzhou_request_follows_the_police_ticket(service_api: Api, clean_sandbox: Sandbox, clock: Clock) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car)
    assert created["status"] == "notified" and created["role"] == "requester"
    assert events(created) == ["requested", "notified"]
    assert created["plate"] == car[:2] + "***" + car[-2:] and created["location"] == PLACE
    [ticket] = clean_sandbox.helper(
        "GET", "car-move/tickets", params={"system": "zhejiang_traffic_police", "plate": car}
    )["tickets"]
    assert ticket["message"] == "您的车挡住出口了" and ticket["location"]["latitude"] == PLACE["lat"]
    clean_sandbox.helper("POST", f"car-move/tickets/{ticket['ticket_no']}/status", json={"status": "acknowledged"})
    # Polled at once, the stored state answers; the police are asked again after a few seconds.
    assert service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)["status"] == "notified"
    clock.advance(seconds=15)
    seen = service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)
    assert seen["status"] == "acknowledged" and events(seen)[-1] == "acknowledged"
    clean_sandbox.helper("POST", f"car-move/tickets/{ticket['ticket_no']}/status", json={"status": "moved"})
    clock.advance(seconds=15)
    assert service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)["status"] == "moved"
    clock.advance(minutes=11)
    nudged = service_api.post(f"/api/v1/car-move-requests/{created['id']}/nudge", token=requester, expected=409)
    assert nudged["error"]["code"] == "car_move.request_finished"
    # Someone else cannot even learn the request exists.
    stranger = log_in(service_api, clean_sandbox, "alipay")
    missing = service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=stranger, expected=404)
    assert missing["error"]["code"] == "car_move.request_not_found"


def test_a_nudge_waits_ten_minutes_and_a_cancel_reaches_the_police(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("浙", new_energy=True)
    register_at_police(clean_sandbox, car, id_number())
    requester = log_in(service_api, clean_sandbox, "alipay")
    created = ask(service_api, requester, car)
    path = f"/api/v1/car-move-requests/{created['id']}"
    clock.advance(minutes=9)
    response = service_app.test_client().post(f"{path}/nudge", headers={"Authorization": f"Bearer {requester}"})
    assert response.status_code == 429 and response.get_json()["error"]["code"] == "car_move.nudge_too_early"
    assert 55 <= int(response.headers["Retry-After"]) <= 60
    clock.advance(minutes=1)
    assert events(service_api.post(f"{path}/nudge", token=requester))[-1] == "nudged"
    cancelled = service_api.post(f"{path}/cancel", token=requester)
    assert cancelled["status"] == "cancelled"
    [ticket] = clean_sandbox.helper(
        "GET", "car-move/tickets", params={"system": "zhejiang_traffic_police", "plate": car}
    )["tickets"]
    assert ticket["status"] == "cancelled"
    again = service_api.post(f"{path}/cancel", token=requester, expected=409)
    assert again["error"]["code"] == "car_move.request_finished"


def test_hangzhou_owners_cannot_register_because_the_police_cannot_confirm_ownership(
    service_api: Api, clean_sandbox: Sandbox
) -> None:
    person = id_number()
    car = plate("浙")
    register_at_police(clean_sandbox, car, person)
    unverified = log_in(service_api, clean_sandbox, "wechat")
    refused = service_api.post(
        "/api/v1/me/vehicles", json={"city": HANGZHOU, "plate": car}, token=unverified, expected=403
    )
    assert refused["error"]["code"] == "car_move.real_name_required"
    owner = log_in(service_api, clean_sandbox, "wechat", name="陈静", person=person)
    refused = service_api.post("/api/v1/me/vehicles", json={"city": HANGZHOU, "plate": car}, token=owner, expected=409)
    assert refused["error"]["code"] == "car_move.ownership_unverifiable"


def test_shenzhen_owner_registers_and_answers_in_another_session(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    car = plate("粤", new_energy=True)
    openid = "o_owner_" + secrets.token_hex(6)
    owner = shenzhen_owner(service_api, clean_sandbox, car, openid=openid)
    requester = log_in(service_api, clean_sandbox, "alipay", name="陈静", person=id_number())
    created = ask(service_api, requester, car, SHENZHEN, message="麻烦挪一下车，电话13800001111")
    assert created["status"] == "notified" and events(created) == ["requested", "owner_told"]
    [notice] = clean_sandbox.helper("GET", "messages", params={"channel": "wechat", "user": openid})["messages"]
    shown = {keyword: value["value"] for keyword, value in notice["data"].items()}
    assert shown == {
        "car_number1": car[:2] + "****" + car[-2:],
        "thing2": f"{PLACE['lat']:.5f},{PLACE['lng']:.5f}",
        "time3": "2026-11-18 10:00",
        "thing4": "麻烦挪一下车，电话138****1111",
    }
    mine = service_api.get("/api/v1/me/car-move-requests", token=owner)["requests"]
    assert [r["id"] for r in mine] == [created["id"]]
    assert mine[0]["role"] == "owner" and mine[0]["nudge_after"] is None and mine[0]["location"] == PLACE
    assert "owner_told" not in events(mine[0])
    # The requester cannot answer, nor see the owner's list; the owner cannot nudge or cancel.
    refused = service_api.post(
        f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "moving"}, token=requester, expected=404
    )
    assert refused["error"]["code"] == "car_move.request_not_found"
    assert service_api.get("/api/v1/me/car-move-requests", token=requester)["requests"] == []
    service_api.post(f"/api/v1/car-move-requests/{created['id']}/cancel", token=owner, expected=404)
    answered = service_api.post(
        f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "moving"}, token=owner
    )
    assert answered["status"] == "acknowledged" and answered["answer"] == "moving"
    assert answered["role"] == "owner" and re.fullmatch(r"cm_[0-9a-f]{20}", answered["id"])
    with service_app.extensions["session_factory"]() as db:
        [kept] = db.scalars(select(OwnerAnswer)).all()
        owner_id = db.scalar(select(ChannelIdentity.resident_id).where(ChannelIdentity.external_id == openid))
        assert (kept.answer, kept.owner_id) == ("moving", owner_id)
    again = service_api.post(
        f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "complaint"}, token=owner, expected=409
    )
    assert again["error"]["code"] == "car_move.already_answered"
    seen = service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)
    assert seen["status"] == "acknowledged" and events(seen)[-1] == "answered_moving" and seen["answer"] == "moving"
    # Neither side sees the other: no name, resident id, openid or phone in what each gets.
    owner_me = service_api.get("/api/v1/me", token=owner)
    requester_me = service_api.get("/api/v1/me", token=requester)
    assert owner_me["id"] not in json.dumps(seen) and SHENZHEN_OWNER_NAME[0] not in json.dumps(seen, ensure_ascii=False)
    assert requester_me["id"] not in json.dumps(mine) and "陈" not in json.dumps(mine, ensure_ascii=False)
    assert set(seen) == set(mine[0])


def test_shenzhen_without_notices_waits_in_the_owner_list(service_api: Api, clean_sandbox: Sandbox) -> None:
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car, SHENZHEN)
    assert created["status"] == "awaiting_owner" and events(created) == ["requested", "owner_not_told"]
    answered = service_api.post(
        f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "not_mine"}, token=owner
    )
    assert answered["status"] == "not_mine"
    assert service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)["status"] == "not_mine"


def test_shenzhen_plates_without_a_registered_owner(service_api: Api, clean_sandbox: Sandbox) -> None:
    requester = log_in(service_api, clean_sandbox, "alipay")
    car = plate("粤")
    register_at_police(clean_sandbox, car, id_number())
    created = ask(service_api, requester, car, SHENZHEN)
    assert created["status"] == "unreachable" and events(created) == ["requested", "owner_not_registered"]
    unknown = ask(service_api, requester, plate("粤"), SHENZHEN, expected=404)
    assert unknown["error"]["code"] == "car_move.vehicle_not_found"


def test_shenzhen_ownership_is_checked_by_id_number(service_api: Api, clean_sandbox: Sandbox) -> None:
    car = plate("粤")
    register_at_police(clean_sandbox, car, id_number())
    someone = log_in(service_api, clean_sandbox, "wechat", name="陈静", person=id_number())
    refused = service_api.post(
        "/api/v1/me/vehicles", json={"city": SHENZHEN, "plate": car}, token=someone, expected=403
    )
    assert refused["error"]["code"] == "car_move.not_the_owner"
    refused = service_api.post(
        "/api/v1/me/vehicles", json={"city": SHENZHEN, "plate": plate("粤")}, token=someone, expected=404
    )
    assert refused["error"]["code"] == "car_move.vehicle_not_found"


@pytest.mark.parametrize(
    "bad",
    [
        "浙I12345",
        "浙AO1234",
        "A123456",
        "浙A1234",
        "浙A123456",
        "港A12345",
        "浙A12345X",
        "浙1A2345",
        "浙AD1234X",
        "ZJA12345",
    ],
)
def test_plates_are_matched_whole(service_api: Api, clean_sandbox: Sandbox, bad: str) -> None:
    requester = log_in(service_api, clean_sandbox, "wechat")
    refused = ask(service_api, requester, bad, expected=422)
    assert refused["error"]["code"] == "car_move.invalid_plate"
    assert bad not in refused["error"]["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"plate": "浙A12345\n", "location": PLACE},
        {"plate": "浙A12345", "location": {"lat": 91, "lng": 120}},
        {"plate": "浙A12345", "location": {"lat": "30.1", "lng": 120}},
        {"plate": "浙A12345", "location": {"lat": True, "lng": 120}},
        {"plate": "浙A12345"},
        {"plate": "浙A12345", "location": PLACE, "message": "x" * 51},
        {"plate": "浙A12345", "location": PLACE, "phone": "13800000000"},
    ],
)
def test_bad_bodies_are_422_in_the_one_shape(service_api: Api, clean_sandbox: Sandbox, body: dict[str, Any]) -> None:
    requester = log_in(service_api, clean_sandbox, "wechat")
    refused = service_api.post(f"/api/v1/cities/{HANGZHOU}/car-move-requests", json=body, token=requester, expected=422)
    assert refused["error"]["code"] == "request.invalid"


def test_a_police_system_down_is_503_and_costs_nothing(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox
) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    requester = log_in(service_api, clean_sandbox, "wechat")
    clean_sandbox.helper(
        "POST", "faults", json={"target": "car_move.zhejiang_traffic_police", "mode": "down", "persistent": True}
    )
    response = service_app.test_client().post(
        f"/api/v1/cities/{HANGZHOU}/car-move-requests",
        json={"plate": car, "location": PLACE},
        headers={"Authorization": f"Bearer {requester}"},
    )
    assert response.status_code == 503 and int(response.headers["Retry-After"]) > 0
    assert response.get_json()["error"]["code"] == "upstream.unavailable"
    clean_sandbox.helper("DELETE", "faults")
    with service_app.extensions["session_factory"]() as db:
        [failed] = db.scalars(select(CarMoveRequest)).all()
        assert failed.status == "failed" and [e["event"] for e in failed.timeline] == ["requested", "failed"]
    # The failed request neither counts nor cools the plate down.
    assert ask(service_api, requester, car)["status"] == "notified"


def test_a_disabled_tile_refuses_with_409(service_app: Flask, service_api: Api, clean_sandbox: Sandbox) -> None:
    from city_services.catalogue import bump_revision
    from city_services.models import Offering
    from database import transaction

    with service_app.extensions["session_factory"]() as db, transaction(db):
        db.execute(
            update(Offering)
            .where(Offering.city_code == HANGZHOU, Offering.service_code == "car_move", Offering.channel == "wechat")
            .values(enabled=False)
        )
        bump_revision(db)
    requester = log_in(service_api, clean_sandbox, "wechat")
    refused = ask(service_api, requester, plate("浙"), expected=409)
    assert refused["error"]["code"] == "service.not_offered"


def test_erasure_removes_plates_and_locations_and_logs_never_hold_them(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    try:
        car = plate("粤")
        owner = shenzhen_owner(service_api, clean_sandbox, car)
        requester = log_in(service_api, clean_sandbox, "alipay")
        created = ask(service_api, requester, car, SHENZHEN)
        service_api.post(f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "moving"}, token=owner)
        hangzhou_car = plate("浙")
        register_at_police(clean_sandbox, hangzhou_car, id_number())
        ask(service_api, requester, hangzhou_car)
    finally:
        logger.removeHandler(caplog.handler)
    for secret in (car, hangzhou_car, str(PLACE["lat"]), "您的车挡住出口了"):
        assert secret not in caplog.text
        assert secret not in stored_text(service_app)
    vault = service_app.extensions["vault"]
    sealed = stored_text(service_app)
    assert vault.lookup("car_move.plate", car) in sealed
    service_api.delete("/api/v1/me", token=owner, expected=204)
    service_api.delete("/api/v1/me", token=requester, expected=204)
    with service_app.extensions["session_factory"]() as db:
        rows = db.execute(
            text("SELECT plate_sealed, plate_lookup, location_sealed, message_sealed, owner_id FROM car_move_requests")
        ).all()
        assert rows and all(set(row) == {None} for row in rows)
        assert db.execute(text("SELECT count(*) FROM car_move_vehicles")).scalar() == 0
    assert vault.lookup("car_move.plate", car) not in stored_text(service_app)


def test_the_sweep_purges_locations_after_seven_days_and_settles_stalled_requests(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car)
    with service_app.extensions["session_factory"]() as db, transaction(db):
        # What a crash between reserving and sending leaves behind: it would count against the limits forever.
        stalled = stalled_request(clock())
        db.add(stalled)
    clock.advance(days=6)
    assert "purged 0 locations, settled 1" in service_app.test_cli_runner().invoke(args=["sweep-car-moves"]).output
    clock.advance(days=1, seconds=1)
    assert "purged 1 locations, settled 0" in service_app.test_cli_runner().invoke(args=["sweep-car-moves"]).output
    with service_app.extensions["session_factory"]() as db:
        row = db.scalars(select(CarMoveRequest).where(CarMoveRequest.public_id == created["id"])).one()
        assert row.location_sealed is None and row.message_sealed is None and row.plate_sealed is not None
        assert (
            db.scalars(select(CarMoveRequest.status).where(CarMoveRequest.public_id == "cm_stalled")).one() == "failed"
        )


def test_a_new_vault_key_reseals_plates_locations_and_messages(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("粤")
    shenzhen_owner(service_api, clean_sandbox, car)
    requester = log_in(service_api, clean_sandbox, "alipay")
    created = ask(service_api, requester, car, SHENZHEN)
    settings = service_app.extensions["settings"]
    new_key = base64.b64encode(b"n" * 32).decode()
    rotated = create_app(
        replace(settings, pii_keys=f"{settings.pii_keys},new1:{new_key}", pii_active_key="new1"), clock=clock
    )
    try:
        # The owner's name and ID number, two channel session secrets, the request's plate, location and
        # message, the vehicle's plate.
        result = rotated.test_cli_runner().invoke(args=["reseal-pii"])
        assert "re-sealed 8 values under key new1" in result.output, result.output
        with rotated.extensions["session_factory"]() as db:
            row = db.scalars(select(CarMoveRequest).where(CarMoveRequest.public_id == created["id"])).one()
            assert all(
                value.startswith("v1:new1:") for value in (row.plate_sealed, row.location_sealed, row.message_sealed)
            )
        seen = Api(rotated.test_client()).get(f"/api/v1/car-move-requests/{created['id']}", token=requester)
        assert seen["location"] == PLACE and seen["plate"] == created["plate"]
    finally:
        rotated.extensions["engine"].dispose()


def test_a_registered_owner_is_reached_wherever_the_car_is(service_api: Api, clean_sandbox: Sandbox) -> None:
    # A Shenzhen car parked in Hangzhou: Zhejiang's police do not know it, its registered owner hears from us.
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car, HANGZHOU)
    assert created["status"] == "awaiting_owner" and events(created) == ["requested", "owner_not_told"]
    assert [r["id"] for r in service_api.get("/api/v1/me/car-move-requests", token=owner)["requests"]] == [
        created["id"]
    ]
    # A car neither the police nor we know is not found, and costs the requester nothing.
    unknown = ask(service_api, requester, plate("粤"), HANGZHOU, expected=404)
    assert unknown["error"]["code"] == "car_move.vehicle_not_found"


def test_a_request_at_a_system_the_city_no_longer_uses_is_not_cancelled_at_the_new_one(
    service_api: Api, clean_sandbox: Sandbox, make_staff
) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    token = log_in(service_api, clean_sandbox)
    asked = ask(service_api, token, car)
    operator = make_staff("ops", "platform_admin")
    change = {"reason": "provincial platform replaced", "adapter": "fake", "params": {}}
    service_api.patch("/admin/api/cities/330100/upstreams/car_move", json=change, token=operator)
    refused = service_api.post(f"/api/v1/car-move-requests/{asked['id']}/cancel", token=token, expected=409)
    assert refused["error"]["code"] == "car_move.system_changed"
    assert service_api.get(f"/api/v1/car-move-requests/{asked['id']}", token=token)["status"] == asked["status"]


def test_a_nudge_tells_a_registered_owner_again_and_a_cancel_here_reaches_them(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("粤")
    openid = "o_nudged_" + secrets.token_hex(6)
    owner = shenzhen_owner(service_api, clean_sandbox, car, openid=openid)
    prompt = {"app_id": MINI, "openid": openid, "template_id": WECHAT_CAR_MOVE_NOTICE}
    clean_sandbox.helper("POST", "wechat/subscribe", json=prompt)
    service_api.post("/api/v1/me/notice-subscriptions", json={"templates": {"car_move_owner": "accept"}}, token=owner)
    requester = log_in(service_api, clean_sandbox, "alipay")
    created = ask(service_api, requester, car, SHENZHEN, message="")
    [told] = clean_sandbox.helper("GET", "messages", params={"channel": "wechat", "user": openid})["messages"]
    assert told["data"]["thing4"]["value"] == "请尽快挪车"  # no message: the notice asks plainly
    path = f"/api/v1/car-move-requests/{created['id']}"
    clock.advance(minutes=9, seconds=59.5)
    response = service_app.test_client().post(f"{path}/nudge", headers={"Authorization": f"Bearer {requester}"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "1"
    clock.advance(seconds=0.5)
    nudged = service_api.post(f"{path}/nudge", token=requester)
    assert events(nudged)[-2:] == ["nudged", "owner_told"] and nudged["nudge_after"]
    notices = clean_sandbox.helper("GET", "messages", params={"channel": "wechat", "user": openid})["messages"]
    assert len(notices) == 2
    # The next reminder waits ten minutes from this one, not from the request.
    response = service_app.test_client().post(f"{path}/nudge", headers={"Authorization": f"Bearer {requester}"})
    assert response.status_code == 429 and response.headers["Retry-After"] == "600"
    cancelled = service_api.post(f"{path}/cancel", token=requester)
    assert cancelled["status"] == "cancelled" and events(cancelled)[-1] == "cancelled"
    assert service_api.get("/api/v1/me/car-move-requests", token=owner)["requests"][0]["status"] == "cancelled"
    again = service_api.post(f"{path}/cancel", token=requester, expected=409)
    assert again["error"] == {
        "code": "car_move.request_finished",
        "message": again["error"]["message"],
        "details": {"status": "cancelled"},
    }


def test_a_cancel_after_the_owner_moved_the_car_says_so(service_api: Api, clean_sandbox: Sandbox) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car)
    [ticket] = clean_sandbox.helper(
        "GET", "car-move/tickets", params={"system": "zhejiang_traffic_police", "plate": car}
    )["tickets"]
    clean_sandbox.helper("POST", f"car-move/tickets/{ticket['ticket_no']}/status", json={"status": "moved"})
    refused = service_api.post(f"/api/v1/car-move-requests/{created['id']}/cancel", token=requester, expected=409)
    assert refused["error"]["code"] == "car_move.request_finished"
    assert refused["error"]["details"] == {"status": "moved"}
    seen = service_api.get(f"/api/v1/car-move-requests/{created['id']}", token=requester)
    assert seen["status"] == "moved" and events(seen)[-1] == "moved"


def test_the_sweep_waits_the_whole_five_minutes_and_seven_days(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("浙")
    register_at_police(clean_sandbox, car, id_number())
    ask(service_api, log_in(service_api, clean_sandbox, "wechat"), car)
    created_at = clock()
    with service_app.extensions["session_factory"]() as db:
        with transaction(db):
            db.add(stalled_request(created_at))
        five_minutes = created_at + timedelta(minutes=5)
        assert sweep_car_moves(db, five_minutes) == Swept(purged=0, settled=0)
        later = five_minutes + timedelta(microseconds=1)
        assert sweep_car_moves(db, later) == Swept(purged=0, settled=1)
        stalled = db.scalars(select(CarMoveRequest).where(CarMoveRequest.public_id == "cm_stalled")).one()
        assert (stalled.status, stalled.updated_at) == ("failed", later)
        week = created_at + timedelta(days=7)
        assert purge_locations(db, week) == 0
        assert purge_locations(db, week + timedelta(microseconds=1)) == 1


def test_an_owner_sees_requests_newest_first_with_answers_and_cannot_answer_a_finished_one(
    service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock
) -> None:
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)
    first, second = log_in(service_api, clean_sandbox, "wechat"), log_in(service_api, clean_sandbox, "alipay")
    older = ask(service_api, first, car, SHENZHEN)
    service_api.post(f"/api/v1/car-move-requests/{older['id']}/answer", json={"answer": "moving"}, token=owner)
    clock.advance(minutes=11)
    newer = ask(service_api, second, car, SHENZHEN)
    with service_app.extensions["session_factory"]() as db, transaction(db):
        # A request still being sent to the police is nobody's business yet, the owner's included.
        row = db.scalars(select(CarMoveRequest).where(CarMoveRequest.public_id == newer["id"])).one()
        db.add(
            CarMoveRequest(
                public_id="cm_in_flight",
                requester_id=row.requester_id,
                owner_id=row.owner_id,
                city_code=SHENZHEN,
                adapter=row.adapter,
                request_no="ctinflight00",
                plate_lookup=row.plate_lookup,
                status="submitting",
                timeline=[],
                created_at=clock(),
                updated_at=clock(),
            )
        )
    mine = service_api.get("/api/v1/me/car-move-requests", token=owner)["requests"]
    assert [(r["id"], r["answer"]) for r in mine] == [(newer["id"], None), (older["id"], "moving")]
    for who in (owner, second):
        service_api.get("/api/v1/car-move-requests/cm_in_flight", token=who, expected=404)
    # Anyone else learns nothing, not even that the request exists.
    stranger = log_in(service_api, clean_sandbox, "wechat")
    unknown = service_api.get(f"/api/v1/car-move-requests/{newer['id']}", token=stranger, expected=404)
    assert unknown["error"]["code"] == "car_move.request_not_found"
    service_api.post(f"/api/v1/car-move-requests/{newer['id']}/cancel", token=second)
    refused = service_api.post(
        f"/api/v1/car-move-requests/{newer['id']}/answer", json={"answer": "moving"}, token=owner, expected=409
    )
    assert refused["error"]["code"] == "car_move.request_finished"
    assert refused["error"]["details"] == {"status": "cancelled"}


def test_an_owner_registers_a_plate_once_at_most_five_and_a_sold_car_moves_to_its_new_owner(
    service_api: Api, clean_sandbox: Sandbox
) -> None:
    person = id_number()
    cars = [plate("粤") for _ in range(6)]
    for car in cars:
        register_at_police(clean_sandbox, car, person)
    owner = log_in(service_api, clean_sandbox, "wechat", name=SHENZHEN_OWNER_NAME, person=person)
    vehicles = "/api/v1/me/vehicles"
    first = service_api.post(vehicles, json={"city": SHENZHEN, "plate": cars[0]}, token=owner, expected=201)
    again = service_api.post(vehicles, json={"city": SHENZHEN, "plate": cars[0]}, token=owner, expected=201)
    assert again == first and first["id"].startswith("veh_")
    for car in cars[1:5]:
        service_api.post(vehicles, json={"city": SHENZHEN, "plate": car}, token=owner, expected=201)
    refused = service_api.post(vehicles, json={"city": SHENZHEN, "plate": cars[5]}, token=owner, expected=409)
    assert refused["error"]["code"] == "car_move.too_many_vehicles"
    # The first car is sold: the police now have someone else as its owner, who registers it.
    buyer_person = id_number()
    register_at_police(clean_sandbox, cars[0], buyer_person)
    buyer = log_in(service_api, clean_sandbox, "alipay", name="赵六", person=buyer_person)
    bought = service_api.post(vehicles, json={"city": SHENZHEN, "plate": cars[0]}, token=buyer, expected=201)
    assert bought["id"] != first["id"]
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, cars[0], SHENZHEN)
    assert [r["id"] for r in service_api.get("/api/v1/me/car-move-requests", token=buyer)["requests"]] == [
        created["id"]
    ]
    assert service_api.get("/api/v1/me/car-move-requests", token=owner)["requests"] == []
    # With one car fewer, the seller may register the sixth.
    service_api.post(vehicles, json={"city": SHENZHEN, "plate": cars[5]}, token=owner, expected=201)
