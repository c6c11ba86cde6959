"""A small billing world for tests: a resident, a fake channel merchant, and ways to pay and read the books."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import Select
from sqlalchemy import create_engine
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import Delivery
from billing.fake import FakePaymentGateway
from billing.gateway import ChannelRefund
from billing.gateway import Checkout
from billing.gateway import Notice
from billing.gateway import Order
from billing.gateway import RefundOrder
from billing.models import LedgerEntry
from billing.models import Payment
from billing.models import Refund
from billing.notifications import Receipt
from billing.notifications import receive_notification
from billing.payments import Charge
from billing.payments import open_payment
from database import transaction
from database.engine import make_session_factory
from identity.models import Resident
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Clock

MERCHANT = "1900000109"
NOTIFY_URL = "http://127.0.0.1:8000/callbacks/wechat-pay/1900000109"


class Recording(FakePaymentGateway):
    """The fake channel, keeping every order and refund it was asked for."""

    def __init__(self, clock: Callable[[], datetime], merchant_id: str = MERCHANT) -> None:
        super().__init__("wechat", merchant_id, clock)
        self.orders: list[Order] = []
        self.refunds: list[RefundOrder] = []

    def create(self, order: Order) -> Checkout:
        self.orders.append(order)
        return super().create(order)

    def refund(self, order: RefundOrder) -> ChannelRefund:
        self.refunds.append(order)
        return super().refund(order)


class Stamping(FakePaymentGateway):
    """The fake channel, saying when the money moved (as the real channels' notifications do) once told."""

    def __init__(self, clock: Callable[[], datetime]) -> None:
        super().__init__("wechat", MERCHANT, clock)
        self.moved_at: datetime | None = None

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        return replace(super().parse_notification(headers, body), at=self.moved_at)


def add_resident(session: Session, clock: Clock) -> int:
    with transaction(session):
        resident = Resident(public_id="r_" + secrets.token_hex(6), created_at=clock())
        session.add(resident)
        session.flush()
        return resident.id


def charge(resident_id: int, clock: Clock, amount_fen: int = 2500, ref: str | None = None) -> Charge:
    return Charge(
        purpose="outpatient",
        purpose_ref=ref or "ap" + secrets.token_hex(10),
        resident_id=resident_id,
        city_code="330100",
        service_code="outpatient",
        app_id=WECHAT_MINI_PROGRAM,
        payer="o-payer-1",
        amount_fen=amount_fen,
        description="挂号费",
        expires_at=clock() + timedelta(minutes=10),
        notify_url=NOTIFY_URL,
    )


def open_order(session: Session, gateway: FakePaymentGateway, clock: Clock, amount_fen: int = 2500) -> Payment:
    return open_payment(session, gateway, charge(add_resident(session, clock), clock, amount_fen), clock)


def deliver(app: Flask, gateway: FakePaymentGateway, delivery: Delivery, clock: Clock) -> Receipt:
    """One delivery, through its own session as another worker's request would."""
    with app.extensions["session_factory"]() as db:
        return receive_notification(
            db, gateway, delivery.headers, delivery.body, vault=app.extensions["vault"], clock=clock
        )


def payment(app: Flask, out_trade_no: str) -> Payment:
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        row = db.scalar(select(Payment).where(Payment.out_trade_no == out_trade_no))
        assert row is not None
        return row


def entries(app: Flask, payment_id: int) -> int:
    with app.extensions["session_factory"]() as db:
        return int(db.scalar(select(func.count()).select_from(LedgerEntry).where(LedgerEntry.payment_id == payment_id)))


@contextmanager
def impatient_session(database_url: str) -> Iterator[Session]:
    """A PostgreSQL session whose lock waits give up after a second: one that would wait on a held row fails instead."""
    engine = create_engine(database_url, connect_args={"options": "-c lock_timeout=1000"})
    try:
        with make_session_factory(engine)() as db:
            yield db
    finally:
        engine.dispose()


@contextmanager
def held_by_another_worker(app: Flask, rows: Select[Any]) -> Iterator[None]:
    """The rows locked by another worker's open transaction until the block ends."""
    with app.extensions["session_factory"]() as other:
        other.execute(rows.with_for_update())
        yield
        other.rollback()


def refunded_fee(
    session: Session,
    fen: int,
    at: datetime,
    settled_at: datetime | None,
    *,
    city: str = "440300",
    service: str = "outpatient",
    channel: str = "wechat",
    status: str = "succeeded",
) -> None:
    """A fee of the city's service paid at `at`, and one refund of `fen` (settled at settled_at, if it was)."""
    with transaction(session):
        paid = Payment(
            public_id="pay_" + secrets.token_hex(8),
            out_trade_no="ct" + secrets.token_hex(12),
            purpose="outpatient_fee",
            purpose_ref=secrets.token_hex(8),
            city_code=city,
            service_code=service,
            channel=channel,
            app_id="app",
            merchant_id="mch",
            gateway="fake",
            amount_fen=50000,
            description="挂号费",
            status="partially_refunded",
            refunded_fen=fen,
            expires_at=at,
            paid_at=at,
            created_at=at,
            updated_at=at,
        )
        session.add(paid)
        session.flush()
        session.add(
            Refund(
                out_refund_no="rf" + secrets.token_hex(12),
                payment_id=paid.id,
                amount_fen=fen,
                reason="cancelled",
                requested_by="resident",
                status=status,
                created_at=at,
                updated_at=at,
                settled_at=settled_at,
            )
        )
