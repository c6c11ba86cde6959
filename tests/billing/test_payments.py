"""Opening a payment: recorded as charged, the channel asked for exactly it, once; payers forgotten on erasure."""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing import statuses
from billing.fake import FakePaymentGateway
from billing.gateway import Order
from billing.models import Payment
from billing.payments import erase_payer
from billing.payments import open_payment
from billing.payments import payment_of
from database import transaction
from errors import Conflict
from errors import NotFound
from tests.billing.world import MERCHANT
from tests.billing.world import NOTIFY_URL
from tests.billing.world import Recording
from tests.billing.world import add_resident
from tests.billing.world import charge
from tests.concurrency import run_together
from tests.conftest import Clock

START = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)


class Ticking:
    """A clock one second on at every reading, so each write's time tells which reading it took."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


def test_the_order_is_recorded_as_charged_and_the_channel_asked_for_exactly_it(session: Session, clock: Clock) -> None:
    ticking = Ticking()
    gateway = Recording(ticking)
    wanted = charge(add_resident(session, clock), clock, 2500, ref="ap" + "1" * 20)
    placed = open_payment(session, gateway, wanted, ticking)
    recorded_at = START + timedelta(seconds=1)
    assert re.fullmatch(r"py[0-9a-f]{20}", placed.public_id)
    assert re.fullmatch(r"ct[0-9a-f]{24}", placed.out_trade_no)
    assert (placed.purpose, placed.purpose_ref, placed.resident_id) == (
        "outpatient",
        "ap" + "1" * 20,
        wanted.resident_id,
    )
    assert (placed.city_code, placed.service_code) == ("330100", "outpatient")
    assert (placed.channel, placed.app_id, placed.merchant_id, placed.gateway) == (
        "wechat",
        wanted.app_id,
        MERCHANT,
        "fake_pay",
    )
    assert (placed.amount_fen, placed.currency, placed.refunded_fen, placed.status) == (2500, "CNY", 0, "created")
    assert (placed.description, placed.expires_at) == ("挂号费", wanted.expires_at)
    assert (placed.paid_at, placed.channel_trade_no) == (None, None)
    # The checkout is written after the channel answered, at a later reading of the clock.
    assert (placed.created_at, placed.updated_at) == (recorded_at, START + timedelta(seconds=2))
    assert gateway.orders == [
        Order(placed.out_trade_no, 2500, "挂号费", wanted.app_id, "o-payer-1", wanted.expires_at, NOTIFY_URL)
    ]
    assert placed.checkout is not None
    trade_no = placed.checkout["reference"]
    assert trade_no.startswith("ft") and placed.checkout == {"reference": trade_no, "tradeNO": trade_no}
    with session.begin():
        stored = session.get(Payment, placed.id)
        assert stored is not None and stored.checkout == placed.checkout and stored.updated_at == placed.updated_at


@pytest.mark.parametrize("amount_fen", [0, -1])
def test_nothing_to_pay_is_refused_before_anything_is_recorded(session: Session, clock: Clock, amount_fen: int) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    with pytest.raises(Conflict) as refused:
        open_payment(session, gateway, charge(add_resident(session, clock), clock, amount_fen), clock)
    assert refused.value.code == "billing.nothing_to_pay"
    assert session.scalar(select(func.count()).select_from(Payment)) == 0
    assert gateway.calls == []


def test_one_cent_is_something_to_pay(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    assert open_payment(session, gateway, charge(add_resident(session, clock), clock, 1), clock).amount_fen == 1


def test_a_payment_no_longer_waiting_is_never_placed_again(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    wanted = charge(add_resident(session, clock), clock)
    gateway.down = True
    with pytest.raises(Exception, match="cannot be reached"):
        open_payment(session, gateway, wanted, clock)
    gateway.down = False
    with transaction(session):
        row = session.scalars(select(Payment)).one()
        row.status = statuses.CLOSED  # e.g. closed by the sweep before the channel was ever reached
    again = open_payment(session, gateway, wanted, clock)
    assert (again.status, again.checkout) == (statuses.CLOSED, None)
    assert [call for call, _ in gateway.calls] == ["create"]  # only the first try, which failed


def test_racing_requests_for_one_charge_record_one_payment(session: Session, clock: Clock, app: object) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    wanted = charge(add_resident(session, clock), clock)
    sessions = app.extensions["session_factory"]  # type: ignore[attr-defined]

    def open_one(_: int) -> int:
        with sessions() as db:
            return open_payment(db, gateway, wanted, clock).id

    assert len(set(run_together(8, open_one))) == 1
    assert session.scalar(select(func.count()).select_from(Payment)) == 1


def test_a_payment_is_found_only_by_its_exact_id_and_only_by_its_payer(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    wanted = charge(add_resident(session, clock), clock)
    placed = open_payment(session, gateway, wanted, clock)
    mine = frozenset({wanted.resident_id})
    assert (
        payment_of(session, frozenset({wanted.resident_id, wanted.resident_id + 9}), placed.public_id).id == placed.id
    )
    for other in (placed.public_id.upper(), placed.public_id + "\n", placed.public_id[:-1], "py" + "0" * 20, ""):
        with pytest.raises(NotFound) as missing:
            payment_of(session, mine, other)
        assert missing.value.code == "billing.payment_not_found"


def test_erasing_a_payer_keeps_their_payments_and_forgets_only_them(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    gone, kept = add_resident(session, clock), add_resident(session, clock)
    theirs = open_payment(session, gateway, charge(gone, clock), clock)
    other = open_payment(session, gateway, charge(kept, clock), clock)
    later = clock() + timedelta(hours=1)
    with transaction(session):
        erase_payer(session, frozenset({gone}), later)
    with session.begin():
        erased, untouched = session.get(Payment, theirs.id), session.get(Payment, other.id)
        assert erased is not None and untouched is not None
        assert (erased.resident_id, erased.updated_at, erased.amount_fen) == (None, later, theirs.amount_fen)
        assert (untouched.resident_id, untouched.updated_at) == (kept, other.updated_at)


def test_the_same_reference_under_another_purpose_is_another_payment(session: Session, clock: Clock) -> None:
    gateway = FakePaymentGateway("wechat", MERCHANT, clock)
    fee = charge(add_resident(session, clock), clock, 2500, ref="ap" + "2" * 20)
    deposit = replace(fee, purpose="deposit", amount_fen=10000)
    first, second = (open_payment(session, gateway, wanted, clock) for wanted in (fee, deposit))
    assert first.id != second.id
    assert [(p.purpose, p.amount_fen) for p in (first, second)] == [("outpatient", 2500), ("deposit", 10000)]
    assert open_payment(session, gateway, deposit, clock).id == second.id
