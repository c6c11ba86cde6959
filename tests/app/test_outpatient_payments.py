"""The paid-slot saga end to end, both channels, through the sandbox's channels and hospitals.

hold → pay in the channel → its signed notification at our callback → the outbox books the place;
the hospital refusing → the whole fee back; money after the appointment ended → the whole fee back;
the resident cancelling in time → the fee back by the terms shown before paying.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from flask import Flask

from tests.app.test_outpatient_api import CITIES
from tests.app.test_outpatient_api import choice
from tests.app.test_outpatient_api import outpatient_app_fixture  # noqa: F401 - a fixture
from tests.app.test_outpatient_api import record
from tests.app.test_outpatient_api import resident
from tests.app.test_outpatient_api import sandbox_settings  # noqa: F401 - a fixture
from tests.app.test_outpatient_api import schedules
from tests.app.test_outpatient_api import wall_clock_fixture  # noqa: F401 - a fixture
from tests.conftest import Api
from tests.conftest import Sandbox

# city, channel: Hangzhou's hospital through WeChat Pay, Shenzhen's through Alipay.
JOURNEYS = [("330100", "wechat"), ("440300", "alipay")]
PAY_HELPER = {"wechat": "wechat-pay/pay", "alipay": "alipay/pay"}
RECEIVED = {"wechat": (204, b""), "alipay": (200, b"success")}


def held_paid_slot(api: Api, sandbox: Sandbox, city: str, channel: str) -> tuple[str, dict[str, Any]]:
    token = resident(api, sandbox, channel)
    department = CITIES[city][2]
    # Two days on: whatever the hour now, every platform's cancel cut-off is still ahead.
    slot = next(s for s in schedules(api, token, city, department, 2) if s["remaining"] > 0 and s["fee_fen"] > 0)
    held = api.post("/api/v1/appointments", json=choice(city, department, slot), token=token, expected=201)
    assert held["status"] == "held" and held["payment_id"]
    return token, held


def pay(app: Flask, api: Api, sandbox: Sandbox, token: str, held: dict[str, Any], *, deliver: bool = True) -> Any:
    """The payer pays in the channel; the channel's notification comes to our callback (unless held back)."""
    payment = api.get(f"/api/v1/payments/{held['payment_id']}", token=token)
    paid = sandbox.helper(
        "POST", PAY_HELPER[payment["channel"]], json={"out_trade_no": payment["out_trade_no"], "deliver": False}
    )
    if deliver:
        send(app, payment["channel"], paid["notification"])
    return paid["notification"]


def send(app: Flask, channel: str, notification: dict[str, Any]) -> None:
    """Hand the channel's notification to citytiles, as the channel would at our public URL; then its follow-up runs."""
    answer = app.test_client().post(
        urlsplit(notification["url"]).path, data=notification["body"].encode(), headers=notification["headers"]
    )
    assert (answer.status_code, answer.data) == RECEIVED[channel], answer.data
    app.extensions["tasks"].drain()


@pytest.mark.parametrize(("city", "channel"), JOURNEYS)
def test_hold_pay_and_the_place_is_booked_then_cancel_for_the_fee_back(
    app: Flask, api: Api, clean_sandbox: Sandbox, city: str, channel: str
) -> None:
    token, held = held_paid_slot(api, clean_sandbox, city, channel)
    payment = api.get(f"/api/v1/payments/{held['payment_id']}", token=token)
    assert (payment["status"], payment["amount_fen"], payment["channel"]) == ("created", held["fee_fen"], channel)
    assert payment["pay_params"] and held["cancel_until"] and held["refund_on_cancel_fen"] is not None
    pay(app, api, clean_sandbox, token, held)
    booked = api.get(f"/api/v1/appointments/{held['id']}", token=token)
    assert booked["status"] == "confirmed"
    assert [h["state"] for h in record(clean_sandbox, city, held["slot_id"])["holds"]] == ["booked"]
    paid = api.get(f"/api/v1/payments/{held['payment_id']}", token=token)
    assert (paid["status"], paid["pay_params"]) == ("paid", None)
    cancelled = api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token)
    assert cancelled["status"] == "cancelled"
    channel_view = clean_sandbox.helper("GET", f"payments/{paid['out_trade_no']}")
    assert [r["amount_fen"] for r in channel_view["refunds"]] == [held["refund_on_cancel_fen"]]


@pytest.mark.parametrize(("city", "channel"), JOURNEYS)
def test_a_place_the_hospital_no_longer_holds_is_refunded_in_full(
    app: Flask, api: Api, clean_sandbox: Sandbox, city: str, channel: str
) -> None:
    token, held = held_paid_slot(api, clean_sandbox, city, channel)
    clean_sandbox.helper("DELETE", "outpatient/holds")  # the hospital forgets the hold
    pay(app, api, clean_sandbox, token, held)
    assert api.get(f"/api/v1/appointments/{held['id']}", token=token)["status"] == "cancelled"
    payment = api.get(f"/api/v1/payments/{held['payment_id']}", token=token)
    channel_view = clean_sandbox.helper("GET", f"payments/{payment['out_trade_no']}")
    assert [r["amount_fen"] for r in channel_view["refunds"]] == [held["fee_fen"]]


@pytest.mark.parametrize(("city", "channel"), JOURNEYS)
def test_money_that_arrives_after_the_appointment_ended_goes_back_in_full(
    app: Flask, api: Api, clean_sandbox: Sandbox, city: str, channel: str
) -> None:
    token, held = held_paid_slot(api, clean_sandbox, city, channel)
    late = pay(app, api, clean_sandbox, token, held, deliver=False)  # paid, but the news is still on its way
    assert api.post(f"/api/v1/appointments/{held['id']}/cancel", token=token)["status"] == "cancelled"
    send(app, channel, late)
    payment = api.get(f"/api/v1/payments/{held['payment_id']}", token=token)
    assert payment["status"] in ("paid", "refunded")
    channel_view = clean_sandbox.helper("GET", f"payments/{payment['out_trade_no']}")
    assert [r["amount_fen"] for r in channel_view["refunds"]] == [held["fee_fen"]]
