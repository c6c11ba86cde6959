"""The ledger: an entry is posted once under its key, and a refund's posting names the refund it books."""

from __future__ import annotations

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.fake import FakePaymentGateway
from billing.ledger import balance
from billing.ledger import entries_of
from billing.ledger import post
from billing.models import LedgerEntry
from billing.refunds import request_refund
from database import transaction
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import deliver
from tests.billing.world import open_order
from tests.conftest import Clock

CLEARING = f"clearing:wechat:{MERCHANT}"
REVENUE = "revenue:330100:outpatient"


def test_an_entry_is_posted_once_and_posting_its_key_again_says_so(session: Session, clock: Clock) -> None:
    lines = [(CLEARING, 800), (REVENUE, -800)]
    with transaction(session):
        assert post(session, "fee:adjustment-1", "adjustment", lines, clock()) is True
    with transaction(session):
        assert post(session, "fee:adjustment-1", "adjustment", lines, clock()) is False
    assert session.scalar(select(func.count()).select_from(LedgerEntry)) == 1
    assert (balance(session, CLEARING), balance(session, REVENUE)) == (800, -800)


def test_a_refunds_posting_names_the_refund_it_books(app: Flask, session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    order = open_order(session, gateway, clock)
    assert deliver(app, gateway, gateway.pay(order.out_trade_no), clock).received
    with app.extensions["session_factory"](expire_on_commit=False) as db:
        refund = request_refund(db, gateway, order.id, 1000, "cancelled", "saga:test", NOTIFY_URL, clock)
    assert deliver(app, gateway, gateway.settle_refund(order.out_trade_no, refund.out_refund_no), clock).received
    session.rollback()
    assert [(entry.kind, entry.key, entry.refund_id) for entry, _ in entries_of(session, order.id)] == [
        ("payment", f"paid:{order.out_trade_no}", None),
        ("refund", f"refund:{refund.out_refund_no}", refund.id),
    ]
