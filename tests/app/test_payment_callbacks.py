"""The callback endpoints: the channel hears "received" only once the notification is applied."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask

from app import create_app
from app.wiring import ChannelAdapters
from billing import statuses
from billing.fake import FakePaymentGateway
from config import Settings
from tests.billing.world import MERCHANT
from tests.billing.world import open_order
from tests.billing.world import payment
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Clock


@pytest.fixture
def gateway(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


@pytest.fixture
def paying_app(
    settings: Settings, clock: Clock, fake_channels: ChannelAdapters, gateway: FakePaymentGateway
) -> Iterator[Flask]:
    application = create_app(
        settings, clock=clock, channels=replace(fake_channels, payments={WECHAT_MINI_PROGRAM: gateway})
    )
    yield application
    application.extensions["engine"].dispose()


def test_a_paid_notification_is_answered_200_once_applied_and_a_forged_one_500(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    client = paying_app.test_client()
    with paying_app.extensions["session_factory"]() as db:
        order = open_order(db, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    forged = client.post(
        f"/callbacks/wechat-pay/{MERCHANT}", data=delivery.body.replace(b"2500", b"1"), headers=delivery.headers
    )
    assert (forged.status_code, forged.get_json()) == (500, {"code": "FAIL", "message": "failed"})
    assert payment(paying_app, order.out_trade_no).status == statuses.CREATED
    answer = client.post(f"/callbacks/wechat-pay/{MERCHANT}", data=delivery.body, headers=delivery.headers)
    assert (answer.status_code, answer.data) == (200, b"")
    assert payment(paying_app, order.out_trade_no).status == statuses.PAID
    replayed = client.post(f"/callbacks/wechat-pay/{MERCHANT}", data=delivery.body, headers=delivery.headers)
    assert replayed.status_code == 500


def test_a_merchant_we_do_not_have_is_404(paying_app: Flask) -> None:
    answer = paying_app.test_client().post("/callbacks/wechat-pay/1900000999", data=b"{}")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "billing.merchant_not_found"
    assert paying_app.test_client().post(f"/callbacks/alipay/{MERCHANT}", data=b"{}").status_code == 404
