"""End to end with the real gateways: an order at the sandbox, the channel's own notifications at our callbacks."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from flask import Flask

from billing import statuses
from billing.payments import Charge
from billing.payments import open_payment
from billing.refunds import request_refund
from tests.billing.world import add_resident
from tests.billing.world import payment
from tests.conftest import Clock
from tests.conftest import Sandbox
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import start_receiver

MINI, ALIPAY, MERCHANT = "wx7c1b5d1e2f3a4b50", "2021004100000001", "1900000109"
# channel -> (app, callback path, the pay helper, what the channel reads as "received")
CHANNELS = {
    "wechat": (MINI, f"/callbacks/wechat-pay/{MERCHANT}", "wechat-pay/pay", (204, b"")),
    "alipay": (ALIPAY, f"/callbacks/alipay/{ALIPAY}", "alipay/pay", (200, b"success")),
}


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """Stands in for our public callback URL, so a test can hand each notification to the app itself."""
    listening, stop = start_receiver()
    listening.answer_with(then=(200, b"success"))
    yield listening
    stop()


def signed_headers(headers: dict[str, str]) -> dict[str, str]:
    """What a channel's request carries that matters here (not the receiver's Host or Content-Length)."""
    return {k: v for k, v in headers.items() if k.lower() == "content-type" or k.lower().startswith("wechatpay-")}


@pytest.mark.parametrize("channel", CHANNELS)
def test_a_payment_and_its_refunds_arrive_as_the_channel_sends_them(
    real_app: Flask, clean_sandbox: Sandbox, clock: Clock, receiver: Receiver, channel: str
) -> None:
    clock.now = datetime.now(UTC)  # the sandbox signs with the wall clock, and stale notices are refused
    app_id, callback, pay_path, received = CHANNELS[channel]
    gateway = real_app.extensions["channels"].payments[app_id]
    payer = clean_sandbox.wechat_code(MINI)["openid"] if channel == "wechat" else clean_sandbox.alipay_code()["open_id"]
    client = real_app.test_client()
    with real_app.extensions["session_factory"]() as db:
        charge = Charge(
            purpose="test_fee",
            purpose_ref="tf" + secrets.token_hex(8),
            resident_id=add_resident(db, clock),
            city_code="330100",
            service_code="outpatient",
            app_id=app_id,
            payer=payer,
            amount_fen=2500,
            description="挂号费",
            expires_at=clock() + timedelta(minutes=10),
            notify_url=receiver.url("order"),
        )
        placed = open_payment(db, gateway, charge, clock)
        payment_id, out_trade_no = placed.id, placed.out_trade_no
    sent = clean_sandbox.helper("POST", pay_path, json={"out_trade_no": out_trade_no, "deliver": False})["notification"]
    answer = client.post(callback, data=sent["body"].encode(), headers=signed_headers(sent["headers"]))
    assert (answer.status_code, answer.data) == received
    assert payment(real_app, out_trade_no).status == statuses.PAID

    for count, (amount, paid_back) in enumerate(((1000, statuses.PARTIALLY_REFUNDED), (1500, statuses.REFUNDED)), 1):
        with real_app.extensions["session_factory"]() as db:
            refund = request_refund(db, gateway, payment_id, amount, "患者取消", "test", receiver.url("refund"), clock)
            out_refund_no = refund.out_refund_no
        if channel == "wechat":
            clean_sandbox.helper("POST", "refund-outcome", json={"out_refund_no": out_refund_no, "outcome": "success"})
        notified = poll(
            lambda: [r for r in receiver.snapshot() if r.path == "refund" or r.form.get("out_biz_no")],
            lambda seen, count=count: len(seen) >= count,
        )[-1]
        clock.now = datetime.now(UTC)
        answer = client.post(callback, data=notified.body, headers=signed_headers(notified.headers))
        assert (answer.status_code, answer.data) == received
        settled = payment(real_app, out_trade_no)
        assert (settled.status, settled.refunded_fen) == (paid_back, 2500 if amount == 1500 else 1000)
    # The same delivery again is a replay: not received.
    replayed = client.post(callback, data=notified.body, headers=signed_headers(notified.headers))
    assert (replayed.status_code, replayed.data) != received
