"""citytiles with fake payment merchants for the demo's WeChat and Alipay apps, and a way to get a paid order."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from app import create_app
from app.wiring import ChannelAdapters
from billing.fake import FakePaymentGateway
from billing.models import Payment
from billing.payments import open_payment
from config import Settings
from tests.billing.world import MERCHANT
from tests.billing.world import add_resident
from tests.billing.world import charge
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import ALIPAY_MINI_PROGRAM
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Clock


@pytest.fixture(name="wechat_pay")
def wechat_pay_fixture(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", MERCHANT, clock)


@pytest.fixture(name="alipay_pay")
def alipay_pay_fixture(clock: Clock) -> FakePaymentGateway:
    return FakePaymentGateway("alipay", ALIPAY_MINI_PROGRAM, clock)


@pytest.fixture(name="app")
def paying_app_fixture(
    settings: Settings,
    clock: Clock,
    fake_channels: ChannelAdapters,
    wechat_pay: FakePaymentGateway,
    alipay_pay: FakePaymentGateway,
) -> Iterator[Flask]:
    payments = {WECHAT_MINI_PROGRAM: wechat_pay, ALIPAY_MINI_PROGRAM: alipay_pay}
    application = create_app(settings, clock=clock, channels=replace(fake_channels, payments=payments))
    application.testing = True
    yield application
    application.extensions["engine"].dispose()


def paid(app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500) -> str:
    order = open_order(session, gateway, clock, amount_fen)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    return order.public_id


def donation_paid(
    app: Flask, session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500
) -> Payment:
    """A paid payment for a purpose with nothing to deliver after it, so nothing but a person refunds it."""
    order = replace(charge(add_resident(session, clock), clock, amount_fen), purpose="donation")
    placed = open_payment(session, gateway, order, clock)
    assert deliver(app, gateway, gateway.pay(placed.out_trade_no), clock).received
    return placed
