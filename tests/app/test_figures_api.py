"""A city's figures over HTTP: real resident calls and tile views through the sandbox, counted, flushed, read."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from database import transaction
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.app.car_move_world import SHENZHEN
from tests.app.car_move_world import ask
from tests.app.car_move_world import log_in
from tests.app.car_move_world import plate
from tests.app.car_move_world import service_api_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import service_app_fixture  # noqa: F401 - a fixture
from tests.app.car_move_world import shenzhen_owner
from tests.app.console_client import Console
from tests.billing.world import refunded_fee
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

FIGURES = f"/admin/api/cities/{SHENZHEN}/figures"


def staff_token(app: Flask, api: Api, clock: Clock, username: str, role: str, cities: tuple[str, ...] = ()) -> str:
    with app.extensions["session_factory"]() as session, transaction(session):
        create_staff_member(session, NewStaffMember(username, username, STAFF_PASSWORD, role, cities), now=clock())
    body = api.post("/admin/api/sessions", json={"username": username, "password": STAFF_PASSWORD}, expected=201)
    token: str = body["token"]
    return token


def refund_paid(app: Flask, clock: Clock, channel: str, fen: int, status: str = "succeeded") -> None:
    """A Shenzhen outpatient fee paid, and part of it given back (settled unless told otherwise)."""
    now = clock()
    with app.extensions["session_factory"]() as session:
        refunded_fee(session, fen, now, now if status == "succeeded" else None, channel=channel, status=status)


def row_of(body: dict[str, Any], service: str, channel: str) -> dict[str, Any]:
    found: dict[str, Any] = next(r for r in body["rows"] if (r["service"], r["channel"]) == (service, channel))
    return found


@pytest.fixture
def residents_used_shenzhen(service_app: Flask, service_api: Api, clean_sandbox: Sandbox, clock: Clock) -> None:
    """Views of Shenzhen's tiles, car-move calls (two answered, two refused, one complained about) and refunds."""
    for channel in ("wechat", "wechat", "alipay"):
        service_api.get(f"/api/v1/cities/{SHENZHEN}/services?channel={channel}")
    service_api.get("/api/v1/cities/999999/services?channel=wechat", expected=404)  # no such city: not counted
    car = plate("粤")
    owner = shenzhen_owner(service_api, clean_sandbox, car)  # registering the car is a car-move call too
    requester = log_in(service_api, clean_sandbox, "wechat")
    created = ask(service_api, requester, car, SHENZHEN)
    ask(service_api, requester, plate("粤"), SHENZHEN, expected=404)  # the police know no such car
    ask(service_api, requester, "not a plate", SHENZHEN, expected=422)  # the use-case refuses it: a failed request
    ask(service_api, requester, car, SHENZHEN, expected=422, location="here")  # the schema refuses it: never a call
    service_api.post(f"/api/v1/car-move-requests/{created['id']}/answer", json={"answer": "complaint"}, token=owner)
    refund_paid(service_app, clock, "alipay", 1250)
    refund_paid(service_app, clock, "alipay", 30)
    refund_paid(service_app, clock, "wechat", 999, status="processing")  # not given back yet
    service_app.extensions["tally"].flush()


@pytest.mark.usefixtures("residents_used_shenzhen")
def test_operators_read_visits_requests_refunds_and_complaints_of_their_city(
    service_app: Flask, service_api: Api, clock: Clock
) -> None:
    token = staff_token(service_app, service_api, clock, "sz-ops", "city_operator", (SHENZHEN,))
    body = service_api.get(FIGURES, token=token)
    assert (body["city"], body["from"], body["to"]) == (SHENZHEN, "2026-11-12", "2026-11-18")
    assert row_of(body, "*", "wechat")["tile_visits"] == 2 and row_of(body, "*", "alipay")["tile_visits"] == 1
    car_move = row_of(body, "car_move", "wechat")
    # Registering the car and asking succeeded; an unknown car and a plate that is none did not.
    assert (car_move["requests"], car_move["succeeded"]) == (4, 2), car_move
    assert car_move["success_rate"] == 0.5 and car_move["median_latency_ms"] in (
        50,
        100,
        200,
        500,
        1000,
    )
    assert car_move["car_move_complaints"] == 1 and car_move["tile_visits"] == 0
    assert row_of(body, "car_move", "alipay")["car_move_complaints"] == 0
    outpatient = row_of(body, "outpatient", "alipay")
    assert outpatient["refunds"] == {"count": 2, "fen": 1280}
    assert (outpatient["requests"], outpatient["success_rate"], outpatient["median_latency_ms"]) == (0, None, None)
    assert row_of(body, "outpatient", "wechat")["refunds"] == {"count": 0, "fen": 0}
    # A period the figures fall outside of shows the same rows, all zero.
    earlier = service_api.get(f"{FIGURES}?from=2026-11-01&to=2026-11-11", token=token)
    assert [r["requests"] + r["tile_visits"] + r["refunds"]["count"] for r in earlier["rows"]] == [0] * len(
        body["rows"]
    )
    later = service_api.get(f"{FIGURES}?from=2026-11-19", token=token)
    assert (later["to"], row_of(later, "*", "wechat")["tile_visits"]) == ("2026-11-25", 0)


@pytest.mark.usefixtures("residents_used_shenzhen")
def test_an_operator_of_another_city_is_refused_and_a_channel_admin_sees_their_channel(
    service_app: Flask, service_api: Api, clock: Clock
) -> None:
    hangzhou = staff_token(service_app, service_api, clock, "hz-ops", "city_operator", ("330100",))
    refused = service_api.get(FIGURES, token=hangzhou, expected=403)
    assert refused["error"]["code"] == "auth.city_out_of_scope"
    with service_app.extensions["session_factory"]() as session, transaction(session):
        create_staff_member(
            session, NewStaffMember("ali", "ali", STAFF_PASSWORD, "channel_admin", channels=("alipay",)), now=clock()
        )
    token = service_api.post("/admin/api/sessions", json={"username": "ali", "password": STAFF_PASSWORD}, expected=201)
    body = service_api.get(FIGURES, token=token["token"])
    assert {r["channel"] for r in body["rows"]} == {"alipay"}


@pytest.mark.parametrize(
    ("query", "code"),
    [
        ("from=2026-11-18&to=2026-11-17", "figures.invalid_period"),
        ("from=2026-01-01&to=2026-04-03", "figures.invalid_period"),
        ("from=2026-11-31", "request.invalid"),
        ("from=18/11/2026", "request.invalid"),
        ("to=2026-11-18&to=2026-11-19", "request.invalid"),
        ("since=2026-11-01", "request.invalid"),
    ],
)
def test_a_bad_period_is_a_422_in_the_one_error_shape(
    service_app: Flask, service_api: Api, clock: Clock, query: str, code: str
) -> None:
    token = staff_token(service_app, service_api, clock, "root", "platform_admin")
    refused = service_api.get(f"{FIGURES}?{query}", token=token, expected=422)
    assert refused["error"]["code"] == code


@pytest.mark.usefixtures("residents_used_shenzhen")
def test_the_console_shows_the_figures_in_both_languages_linked_from_the_city_page(
    service_app: Flask, clock: Clock
) -> None:
    staff_token(service_app, Api(service_app.test_client()), clock, "sz-ops", "city_operator", (SHENZHEN,))
    console = Console(service_app.test_client())
    console.log_in("sz-ops")
    assert f'href="/admin/cities/{SHENZHEN}/figures"' in console.text(f"/admin/cities/{SHENZHEN}")
    html = console.text(f"/admin/cities/{SHENZHEN}/figures?from=2026-11-18&to=2026-11-18")
    assert f"<caption>{SHENZHEN} 各服务、各渠道数据，2026-11-18 至 2026-11-18</caption>" in html
    car_move = html.split('id="figures-car_move-wechat"')[1].split("</tr>")[0]
    assert '<th scope="row">一键挪车</th>' in car_move or "挪车" in car_move.split("</th>")[0]
    cells = [cell.split(">", 1)[1].split("</td>")[0] for cell in car_move.split("<td")[1:]]
    assert (cells[0], cells[2], cells[3], cells[7]) == ("微信", "4", "50.0%", "1"), cells
    outpatient = html.split('id="figures-outpatient-alipay"')[1].split("</tr>")[0]
    assert '<td class="number">12.80</td>' in outpatient and '<td class="number">2</td>' in outpatient
    english = console.get(f"/admin/cities/{SHENZHEN}/figures", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Tile list (all services)" in english and '<th scope="col">Median latency' in english
    refused = console.get(f"/admin/cities/{SHENZHEN}/figures?from=2026-11-18&to=2026-11-01", expected=422)
    assert "起始日期须不晚于截止日期" in refused.get_data(as_text=True)
    console.get(f"/admin/cities/{SHENZHEN}/figures?from=yesterday", expected=422)
