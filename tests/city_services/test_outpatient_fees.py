"""The paid-slot saga over fakes, on both databases: hold → pay → book, or the money back; was the fee delivered."""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from billing import statuses
from billing.fake import FakePaymentGateway
from billing.models import OutboxTask
from billing.models import Payment
from billing.models import Refund
from billing.notifications import receive_notification
from billing.outbox import LEASE
from billing.outbox import carry_out
from billing.payments import Charge
from billing.payments import erase_payer
from billing.payments import open_payment
from billing.refunds import MAX_REFUNDS_PER_PAYMENT
from billing.refunds import request_refund
from city_services.models import NoticeCredit
from city_services.models import NoticeRecord
from city_services.models import UpstreamConnection
from city_services.notices import Delivery
from city_services.notices import Notices
from city_services.notices import read_templates
from city_services.outpatient.cancel_terms import CANCEL_POLICIES
from city_services.outpatient.cancel_terms import STRICTEST
from city_services.outpatient.cancel_terms import CancelTerms
from city_services.outpatient.cancel_terms import cancel_terms
from city_services.outpatient.fake import FakeOutpatient
from city_services.outpatient.fees import BOOKED_NOTICE
from city_services.outpatient.fees import CLOSE_MARGIN
from city_services.outpatient.fees import REFUND_NOTICE
from city_services.outpatient.fees import FeeDesk
from city_services.outpatient.fees import cancel_paid_appointment
from city_services.outpatient.fees import fee_payment_id
from city_services.outpatient.fees import fee_tasks
from city_services.outpatient.fees import fulfil_paid_fee
from city_services.outpatient.fees import open_fee
from city_services.outpatient.fulfilment import not_booked
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import Hold
from city_services.outpatient.service import AppointmentView
from city_services.outpatient.service import cancel_appointment
from city_services.outpatient.service import erase_appointments
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from config.settings import DEFAULT_NOTICE_TEMPLATES
from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from errors import Conflict
from errors import UpstreamUnavailable
from identity.id_numbers import check_digit
from identity.models import ChannelIdentity
from identity.models import Resident
from identity.residents import erase_resident
from tests.city_services.test_outpatient_service import VAULT
from tests.city_services.test_outpatient_service import Now
from tests.city_services.test_outpatient_service import hold
from tests.city_services.test_outpatient_service import make_resident
from tests.city_services.test_outpatient_service import tomorrow_slot
from tests.concurrency import run_together

MINI = "wx7c1b5d1e2f3a4b50"
CITY = "330100"
CATALOGUE = Path(__file__).resolve().parents[2] / "config" / "cities.toml"
NOTIFY = "http://127.0.0.1:8000/callbacks/wechat-pay/1900000109"


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(database_url)
    yield make_session_factory(engine)
    engine.dispose()


@pytest.fixture
def session(sessions: sessionmaker[Session]) -> Iterator[Session]:
    with sessions() as db:
        yield db


@pytest.fixture
def now() -> Now:
    return Now()


@pytest.fixture
def fake(now: Now) -> FakeOutpatient:
    return FakeOutpatient(hold_seconds=900, clock=now)


@pytest.fixture
def gateway(now: Now) -> FakePaymentGateway:
    return FakePaymentGateway("wechat", "1900000109", now)


@pytest.fixture
def desk(fake: FakeOutpatient, gateway: FakePaymentGateway, now: Now) -> FeeDesk:
    return FeeDesk(
        provider_for=provider_of(fake),
        gateway_for=lambda payment: {gateway.merchant_id: gateway}[payment.merchant_id],
        notify_url_for=lambda merchant: f"{NOTIFY.rsplit('/', 1)[0]}/{merchant.merchant_id}",
        notices=Notices({}, read_templates(DEFAULT_NOTICE_TEMPLATES)),
        clock=now,
    )


def provider_of(platform: object) -> Callable[[Session, str], Any]:
    """The desk's provider_for over one platform: asked with the caller's session, for the test city only."""

    def provider_for(session: Session, city: str) -> Any:
        assert isinstance(session, Session)  # where the city's connection is read
        return {CITY: platform}[city]

    return provider_for


def records(caplog: pytest.LogCaptureFixture, message: str) -> list[logging.LogRecord]:
    return [record for record in caplog.records if record.getMessage() == message]


def held_and_opened(
    session: Session, fake: FakeOutpatient, gateway: FakePaymentGateway, now: Now
) -> tuple[AppointmentView, Payment]:
    resident = make_resident(session)
    # Two days on: whatever the hour now, even the strictest cancel cut-off (24 hours) is still ahead.
    held = hold(session, fake, resident, tomorrow_slot(fake, offset=2), now)
    payment = open_fee(session, gateway, held, resident.id, MINI, "o-payer", NOTIFY, now)
    return held, payment


def pay(session: Session, gateway: FakePaymentGateway, payment: Payment, now: Now) -> None:
    delivery = gateway.pay(payment.out_trade_no)
    receipt = receive_notification(session, gateway, delivery.headers, delivery.body, vault=VAULT, clock=now)
    assert receipt.received


def settle_refunds(sessions: sessionmaker[Session], gateway: FakePaymentGateway, now: Now) -> None:
    """The channel finishes every refund it is processing, and its notifications arrive."""
    with sessions() as db:
        open_refunds = db.execute(
            select(Payment.out_trade_no, Refund.out_refund_no)
            .join(Refund, Refund.payment_id == Payment.id)
            .where(Refund.status == statuses.PROCESSING)
        ).all()
    for out_trade_no, out_refund_no in open_refunds:
        delivery = gateway.settle_refund(out_trade_no, out_refund_no)
        with sessions() as db:
            assert receive_notification(db, gateway, delivery.headers, delivery.body, vault=VAULT, clock=now).received


def run_outbox(sessions: sessionmaker[Session], desk: FeeDesk) -> int:
    """Carry out the due tasks; how many of the saga's steps were done (the refund notices they wrote not counted)."""
    with sessions() as db:
        handlers = {"fulfil": lambda s, ref: fulfil_paid_fee(s, desk, ref), **fee_tasks(desk)}
        before = steps_done(db)
        carry_out(db, handlers, desk.clock)
        return steps_done(db) - before


def steps_done(session: Session) -> int:
    done = select(func.count()).where(OutboxTask.done_at.is_not(None), OutboxTask.kind != REFUND_NOTICE)
    return int(session.scalar(done) or 0)


def told(sessions: sessionmaker[Session]) -> list[str]:
    with sessions() as db:
        return list(db.scalars(select(NoticeRecord.notice).order_by(NoticeRecord.id)))


def status_of(sessions: sessionmaker[Session], public_id: str) -> str:
    with sessions() as db:
        found = db.scalar(select(Appointment.status).where(Appointment.public_id == public_id))
        assert found is not None
        return found


def test_the_payment_closes_before_the_hold_lapses_and_is_found_by_its_appointment(
    session: Session, fake: FakeOutpatient, gateway: FakePaymentGateway, now: Now
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    assert held.expires_at is not None
    assert payment.expires_at == min(now() + timedelta(minutes=10), held.expires_at - CLOSE_MARGIN)
    assert payment.expires_at < held.expires_at and payment.amount_fen == held.fee_fen
    assert fee_payment_id(session, held.id) == payment.public_id
    with pytest.raises(Conflict) as refused:
        open_fee(session, gateway, _confirmed(held), 1, MINI, "o", NOTIFY, now)
    assert refused.value.code == "outpatient.nothing_to_pay"
    with pytest.raises(Conflict) as refused:
        open_fee(session, gateway, replace(held, expires_at=None), 1, MINI, "o", NOTIFY, now)  # a reservation
    assert refused.value.code == "outpatient.nothing_to_pay"


def _confirmed(view: AppointmentView) -> AppointmentView:
    return replace(view, status="confirmed", expires_at=None)


def test_a_hold_about_to_lapse_cannot_be_paid(
    session: Session, fake: FakeOutpatient, gateway: FakePaymentGateway, now: Now
) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake), now)
    now.at = held.expires_at - CLOSE_MARGIN  # type: ignore[operator]
    with pytest.raises(Conflict) as refused:
        open_fee(session, gateway, held, resident.id, MINI, "o", NOTIFY, now)
    assert refused.value.code == "outpatient.hold_expired"


def test_paid_then_booked_once_however_often_the_task_runs(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)
    assert run_outbox(sessions, desk) == 2  # the booking, then the notice task it wrote, in one run
    assert status_of(sessions, held.id) == "confirmed"
    assert told(sessions) == ["appointment"]  # tried (the test resident allowed no notices, so none was sent)
    assert run_outbox(sessions, desk) == 0  # done tasks are not run again
    with sessions() as db:
        fulfil_paid_fee(db, desk, payment.out_trade_no)  # and running it again by hand changes nothing
        assert db.scalars(select(Refund)).all() == []
        assert all(done is not None for done in db.scalars(select(OutboxTask.done_at)))
    assert told(sessions) == ["appointment"]


def test_a_booking_whose_worker_died_before_the_notice_still_tells_the_resident(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)
    with sessions() as db, transaction(db):
        db.execute(update(OutboxTask).values(due_at=now.at + LEASE, attempts=1))  # claimed by a worker...
    with sessions() as db:
        fulfil_paid_fee(db, desk, payment.out_trade_no)  # ...that books the place and dies before telling anyone
    assert (status_of(sessions, held.id), told(sessions)) == ("confirmed", [])
    now.at += LEASE + timedelta(seconds=1)
    run_outbox(sessions, desk)
    assert told(sessions) == ["appointment"]
    with sessions() as db:
        assert sorted(db.scalars(select(OutboxTask.kind).where(OutboxTask.done_at.is_not(None)))) == [
            BOOKED_NOTICE,
            "fulfil",
        ]


def test_the_hospital_refusing_the_paid_place_refunds_it_in_full_once(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        hold_id = db.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == held.id))
    fake.cancel(hold_id)  # the hospital gave the place away meanwhile
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    with sessions() as db:
        refund = db.scalars(select(Refund)).one()
        assert (refund.amount_fen, refund.requested_by, refund.status) == (
            payment.amount_fen,
            "saga:hospital_refused",
            statuses.PROCESSING,
        )
        with pytest.raises(UpstreamUnavailable) as waiting:
            fulfil_paid_fee(db, desk, payment.out_trade_no)  # run again: no second refund, and it waits for the first
        assert waiting.value.code == "billing.refund_pending"
        assert len(db.scalars(select(Refund)).all()) == 1
    assert status_of(sessions, held.id) == "cancelled"
    assert told(sessions) == ["payment"]
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 1  # the money is back: the task is done
    with sessions() as db:
        assert db.scalars(select(Refund.status)).all() == [statuses.SUCCEEDED]


def test_money_that_comes_after_the_appointment_ended_goes_back(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        resident = db.get(Resident, payment.resident_id)
        cancel_appointment(db, fake, resident, held.id, now)
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    with sessions() as db:
        refund = db.scalars(select(Refund)).one()
        assert refund.requested_by == "saga:appointment_ended" and refund.amount_fen == payment.amount_fen


def test_a_hospital_that_cannot_answer_is_asked_again_later(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)
    fake.down = True
    assert run_outbox(sessions, desk) == 0
    with sessions() as db:
        task = db.scalars(select(OutboxTask)).one()
        assert (task.attempts, task.last_error, task.done_at) == (1, "upstream.unavailable", None)
    fake.down = False
    assert run_outbox(sessions, desk) == 0  # not due yet: it backs off
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 2  # booked, and its notice
    assert status_of(sessions, held.id) == "confirmed"


def test_an_unreachable_channel_leaves_the_refund_to_ask_again(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        hold_id = db.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == held.id))
    fake.cancel(hold_id)
    pay(session, gateway, payment, now)
    gateway.down = True
    with sessions() as db, pytest.raises(UpstreamUnavailable):
        fulfil_paid_fee(db, desk, payment.out_trade_no)
    with sessions() as db:
        assert db.scalars(select(Refund.status)).all() == [statuses.REQUESTED]  # the sweep asks again


def booked_and_paid(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> tuple[AppointmentView, Payment, Resident]:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    with sessions(expire_on_commit=False) as db:
        resident = db.get(Resident, payment.resident_id)
        assert resident is not None
    return held, payment, resident


def test_a_paid_place_shows_its_cancel_terms_and_cancelling_in_time_refunds_by_them(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    policy = STRICTEST  # the test's city has no stored connection: its adapter is unknown, the strictest terms apply
    assert (held.cancel_until, held.refund_on_cancel_fen) == (held.starts_at - policy.cutoff, held.fee_fen)
    with sessions() as db:
        cancelled = cancel_paid_appointment(db, desk, fake, resident, held.id)
        assert cancelled.status == "cancelled"
        refund = db.scalars(select(Refund)).one()
        assert (refund.amount_fen, refund.requested_by) == (held.fee_fen, "resident")
        asked = gateway._orders[payment.out_trade_no].refunds[refund.out_refund_no][0]
        assert asked.notify_url == NOTIFY  # the channel reports back to our callback
        # Cancelling again answers the same, and refunds nothing more.
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
        assert len(db.scalars(select(Refund)).all()) == 1
    run_outbox(sessions, desk)  # the refund's notice is a task the refund wrote with itself
    assert told(sessions)[-1] == "payment"


def test_a_cancel_whose_request_died_before_the_refund_is_refunded_by_its_task(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)

    def dies(_payment: Payment) -> FakePaymentGateway:
        raise RuntimeError("the process died after the cancel committed")

    with sessions() as db, pytest.raises(RuntimeError):
        cancel_paid_appointment(db, replace(desk, gateway_for=dies), fake, resident, held.id)
    assert status_of(sessions, held.id) == "cancelled"
    with sessions() as db:
        assert db.scalars(select(Refund)).all() == []
    assert run_outbox(sessions, desk) == 0  # it asked for the refund, and waits for the money to be back
    with sessions() as db:
        refund = db.scalars(select(Refund)).one()
        assert (refund.amount_fen, refund.requested_by) == (held.fee_fen, "resident")
    assert told(sessions)[-1] == "payment"
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 1
    assert run_outbox(sessions, desk) == 0


def test_a_cancel_owes_its_refund_even_when_the_resident_is_erased_before_the_task_pays_it(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    gateway.refusing_refunds = True
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
    with sessions() as db:
        erased = db.get(Resident, resident.id)
        assert erased is not None
        erase_resident(db, erased, now=now(), erasers=(erase_appointments, erase_payer))
        assert db.scalars(select(Appointment)).all() == []  # the appointment went with the resident
    gateway.refusing_refunds = False
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 0  # asked, and waiting for the money to be back
    with sessions() as db:
        refund = db.scalars(select(Refund).where(Refund.status == statuses.PROCESSING)).one()
        assert (refund.amount_fen, refund.requested_by) == (held.refund_on_cancel_fen, "resident")
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=31)
    assert run_outbox(sessions, desk) == 1
    with sessions() as db:
        assert db.scalars(select(Payment.status)).one() == statuses.REFUNDED


def test_a_refund_the_channel_refused_on_cancel_is_asked_again_by_its_task(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    gateway.refusing_refunds = True
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
    assert run_outbox(sessions, desk) == 0  # its task asks at once, and is refused too: it backs off
    gateway.refusing_refunds = False
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 0  # accepted this time: the task waits for the money to be back
    with sessions() as db:
        refunds = db.scalars(select(Refund.status).order_by(Refund.id)).all()
        assert refunds == [statuses.REFUND_FAILED, statuses.REFUND_FAILED, statuses.PROCESSING]
        assert db.scalars(select(OutboxTask.last_error).where(OutboxTask.kind == "cancel_refund")).one() == (
            "billing.refund_pending"
        )


def test_each_platform_has_its_terms_and_an_unknown_one_the_strictest() -> None:
    starts = datetime(2026, 12, 1, 1, 0, tzinfo=UTC)
    assert cancel_terms("shenzhen_health_platform", starts, 1000) == CancelTerms(starts - timedelta(hours=2), 900)
    assert cancel_terms("zheyi_his", starts, 1000) == CancelTerms(starts - timedelta(hours=24), 1000)
    assert cancel_terms("another", starts, 50) == CancelTerms(starts - timedelta(hours=24), 50)
    assert STRICTEST.retained_fen == 0
    assert cancel_terms("shenzhen_health_platform", starts, 60).refund_fen == 0  # never below nothing
    assert set(CANCEL_POLICIES) == {"zheyi_his", "shenzhen_health_platform", "fake"}


def test_past_the_cut_off_a_paid_place_is_not_cancelled_here(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    assert held.cancel_until is not None
    now.at = held.cancel_until
    with sessions() as db, pytest.raises(Conflict) as refused:
        cancel_paid_appointment(db, desk, fake, resident, held.id)
    assert refused.value.code == "outpatient.past_cancel_cutoff"
    assert refused.value.details == {"cancel_until": held.cancel_until.isoformat()}
    assert "too late" in refused.value.message
    assert status_of(sessions, held.id) == "confirmed"


def test_cancelling_before_paying_closes_the_order(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions(expire_on_commit=False) as db:
        resident = db.get(Resident, payment.resident_id)
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
    assert gateway.query(payment.out_trade_no).state == "closed"
    with sessions() as db:
        assert db.scalars(select(Refund)).all() == []
        assert db.scalars(select(OutboxTask)).all() == []  # nothing paid, so no refund owed


def test_an_order_that_cannot_be_closed_on_cancelling_is_left_to_the_sweep(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions(expire_on_commit=False) as db:
        resident = db.get(Resident, payment.resident_id)
    gateway.down = True
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
    assert ("close", payment.out_trade_no) in gateway.calls
    [warned] = records(caplog, "an order could not be closed on cancelling")
    assert getattr(warned, "code", None) == "billing.channel_unavailable"


def test_an_order_whose_merchant_is_gone_is_left_to_the_sweep_and_the_cancel_stands(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions(expire_on_commit=False) as db:
        resident = db.get(Resident, payment.resident_id)

    def removed(_payment: Payment) -> FakePaymentGateway:
        raise UpstreamUnavailable("billing.channel_unavailable", "The payment's merchant is not configured.")

    with sessions() as db:
        assert cancel_paid_appointment(db, replace(desk, gateway_for=removed), fake, resident, held.id).status == (
            "cancelled"
        )
    [warned] = records(caplog, "an order could not be closed on cancelling")
    assert getattr(warned, "code", None) == "billing.channel_unavailable"


def test_cancelling_a_held_place_with_no_order_owes_nothing(
    sessions: sessionmaker[Session], session: Session, fake: FakeOutpatient, desk: FeeDesk, now: Now
) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake, offset=2), now)
    assert fee_payment_id(session, held.id) is None
    with sessions(expire_on_commit=False) as db:
        mine = db.get(Resident, resident.id)
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, mine, held.id).status == "cancelled"
        assert db.scalars(select(OutboxTask)).all() == []


def test_a_refund_the_channel_refuses_is_asked_again_until_the_money_is_back(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        hold_id = db.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == held.id))
    fake.cancel(hold_id)
    pay(session, gateway, payment, now)
    gateway.refusing_refunds = True  # the merchant's balance is too low today
    assert run_outbox(sessions, desk) == 0
    with sessions() as db:
        assert db.scalars(select(Refund.status)).all() == [statuses.REFUND_FAILED]
        assert db.scalars(select(OutboxTask.last_error).where(OutboxTask.kind == "fulfil")).one() == (
            "billing.refund_owed"
        )
    assert told(sessions) == []  # no "refunded" notice for money that did not move
    gateway.refusing_refunds = False
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 0  # asked again and accepted; done once the money is back
    with sessions() as db:
        refunds = db.scalars(select(Refund).order_by(Refund.id)).all()
        assert [r.status for r in refunds] == [statuses.REFUND_FAILED, statuses.PROCESSING]
        assert refunds[1].amount_fen == payment.amount_fen
    assert told(sessions) == ["payment"]
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=31)
    assert run_outbox(sessions, desk) == 1


class CancelledWhileBooking:
    """The hospital platform, while the resident cancels the appointment between our booking call and its answer."""

    def __init__(self, platform: FakeOutpatient, cancel: Callable[[], object]) -> None:
        self.platform = platform
        self.cancel_meanwhile = cancel

    def book(self, hold_id: str) -> Hold:
        booked = self.platform.book(hold_id)
        self.cancel_meanwhile()
        return booked

    def cancel(self, hold_id: str) -> Hold:
        return self.platform.cancel(hold_id)


def test_a_booking_that_finishes_after_the_resident_cancelled_leaves_it_cancelled_and_refunded(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)

    def resident_cancels() -> None:
        with sessions() as db, transaction(db):
            row = db.scalar(select(Appointment).where(Appointment.public_id == held.id))
            assert row is not None
            row.status = "cancelled"

    racing = replace(desk, provider_for=provider_of(CancelledWhileBooking(fake, resident_cancels)))
    assert run_outbox(sessions, racing) == 0  # refunded, the task waiting for the money to be back
    assert status_of(sessions, held.id) == "cancelled"
    with sessions() as db:
        hold_id = db.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == held.id))
        assert db.scalars(select(Refund.requested_by)).all() == ["saga:appointment_ended"]
        assert db.scalar(select(OutboxTask.last_error).where(OutboxTask.kind == "fulfil")) == "billing.refund_pending"
    assert fake._places[hold_id].hold.status == "cancelled"  # given back at the hospital too
    assert "appointment" not in told(sessions)


def test_a_double_tapped_cancel_refunds_once(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)

    def tap(_: int) -> str:
        with sessions() as db:
            return cancel_paid_appointment(db, desk, fake, resident, held.id).status

    assert run_together(3, tap) == ["cancelled"] * 3
    with sessions() as db:
        assert len(db.scalars(select(Refund)).all()) == 1


class Inbox:
    """A channel's messenger that delivers every notice into a list."""

    def __init__(self) -> None:
        self.delivered: list[Delivery] = []

    def send(self, delivery: Delivery) -> None:
        self.delivered.append(delivery)


class Unreachable(Inbox):
    """A channel's messenger that cannot be reached for its first few notices."""

    def __init__(self, failures: int) -> None:
        super().__init__()
        self.failures = failures

    def send(self, delivery: Delivery) -> None:
        if self.failures:
            self.failures -= 1
            raise UpstreamUnavailable("wechat.unavailable", "WeChat cannot be reached.")
        super().send(delivery)


def listening(
    session: Session, resident_id: int, desk: FeeDesk, now: Now, inbox: Inbox | None = None
) -> tuple[FeeDesk, Inbox]:
    """The resident's WeChat account, allowing two of each notice, and a desk whose WeChat delivers to an inbox."""
    with transaction(session):
        session.add(
            ChannelIdentity(
                resident_id=resident_id,
                channel="wechat",
                app_id=MINI,
                external_id="o-payer",
                created_at=now(),
                last_login_at=now(),
            )
        )
        for notice in ("appointment", "payment"):
            session.add(
                NoticeCredit(
                    resident_id=resident_id, channel="wechat", app_id=MINI, notice=notice, credits=2, updated_at=now()
                )
            )
    inbox = inbox or Inbox()
    return replace(desk, notices=Notices({MINI: inbox}, desk.notices.templates)), inbox


def test_a_booking_notice_the_channel_could_not_take_is_sent_when_it_can(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    assert payment.resident_id is not None
    told_desk, inbox = listening(session, payment.resident_id, desk, now, Unreachable(failures=1))
    pay(session, gateway, payment, now)
    run_outbox(sessions, told_desk)
    assert inbox.delivered == []
    with sessions() as db:
        notice_task = db.scalars(select(OutboxTask).where(OutboxTask.kind == BOOKED_NOTICE)).one()
        assert (notice_task.done_at, notice_task.last_error) == (None, "notices.channel_unavailable")
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, told_desk) == 1
    assert [delivery.data[-1] for delivery in inbox.delivered] == [("character_string5", held.id)]
    with sessions() as db:
        # The try that failed spent nothing: of two credits, the one delivery used one.
        assert db.scalar(select(NoticeCredit.credits).where(NoticeCredit.notice == "appointment")) == 1


def test_two_copies_of_a_refund_step_racing_tell_the_payer_once(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    told_desk, inbox = listening(session, resident.id, desk, now)
    raced: list[str] = []

    def meanwhile(_gateway: FakePaymentGateway) -> str:
        # Between the request's look for a refund and its own: a worker carries out the cancel's task.
        if not raced:
            with sessions() as other:
                task = other.scalars(select(OutboxTask).where(OutboxTask.kind == "cancel_refund")).one()
                raced.append(task.ref)
                with pytest.raises(UpstreamUnavailable):  # it asked, and waits for the money to be back
                    fee_tasks(told_desk)["cancel_refund"](other, task.ref)
        return NOTIFY

    with sessions() as db:
        cancel_paid_appointment(db, replace(told_desk, notify_url_for=meanwhile), fake, resident, held.id)
    assert raced
    run_outbox(sessions, told_desk)
    with sessions() as db:
        assert len(db.scalars(select(Refund)).all()) == 1
    refund_notices = [d for d in inbox.delivered if d.template_id.startswith("PaymentNotice")]
    assert len(refund_notices) == 1
    # The copy that lost the race answers with the winner's refund, not an error left to the task.
    assert records(caplog, "a cancelled appointment's refund is left to its task") == []


def test_the_resident_is_told_the_booking_and_the_refund_in_their_words(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    assert payment.resident_id is not None
    told_desk, inbox = listening(session, payment.resident_id, desk, now)
    pay(session, gateway, payment, now)
    run_outbox(sessions, told_desk)
    starts = held.starts_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M")
    booked = inbox.delivered[0]
    assert (booked.app_id, booked.external_id, booked.template_id) == (
        MINI,
        "o-payer",
        "AppointmentNotice_Hc4eT1uZo6WqGf2Lx9SbVr0mK",
    )
    assert dict(booked.data) == {
        "thing1": "本人",
        "thing2": held.hospital_name,
        "thing3": held.department_name,
        "time4": starts,
        "character_string5": held.id,
    }
    with sessions() as db:
        resident = db.get(Resident, payment.resident_id)
        assert resident is not None
        cancel_paid_appointment(db, told_desk, fake, resident, held.id)
    run_outbox(sessions, told_desk)
    refunded = inbox.delivered[1]
    fee = held.refund_on_cancel_fen
    assert refunded.template_id == "PaymentNotice_kY7nJ3aRm5QeZ1tXw8CvLp2Ds4Bq7"
    assert dict(refunded.data) == {
        "character_string1": payment.out_trade_no,
        "amount2": f"{fee // 100}.{fee % 100:02d}元",
        "thing3": "挂号费退款: 已取消预约",
        "time4": now().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
    }
    assert len(inbox.delivered) == 2


def test_a_refund_the_channel_drops_after_accepting_it_is_asked_for_anew(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    with sessions() as db:
        cancel_paid_appointment(db, desk, fake, resident, held.id)
        first = db.scalars(select(Refund)).one()
    assert run_outbox(sessions, desk) == 0  # accepted, not yet back: the task waits
    dropped = gateway.settle_refund(payment.out_trade_no, first.out_refund_no, succeed=False)  # e.g. WeChat's CLOSED
    with sessions() as db:
        assert receive_notification(db, gateway, dropped.headers, dropped.body, vault=VAULT, clock=now).received
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 0  # asked for anew
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=31)
    assert run_outbox(sessions, desk) == 1
    with sessions() as db:
        refunds = db.scalars(select(Refund).order_by(Refund.id)).all()
        assert [(r.status, r.amount_fen) for r in refunds] == [
            (statuses.REFUND_FAILED, held.fee_fen),
            (statuses.SUCCEEDED, held.fee_fen),
        ]


def test_a_cancel_that_committed_answers_cancelled_whatever_its_refund_meets(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    gateway.refusing_refunds = True
    with sessions() as db:
        for _ in range(MAX_REFUNDS_PER_PAYMENT):  # refused refunds, up to what a payment may have
            request_refund(db, gateway, payment.id, 1, "test", "staff:1", NOTIFY, now)
    with sessions() as db:
        assert cancel_paid_appointment(db, desk, fake, resident, held.id).status == "cancelled"
    with sessions() as db:
        task = db.scalars(select(OutboxTask).where(OutboxTask.kind == "cancel_refund")).one()
        assert task.done_at is None  # the refund is its task's to get back


def test_a_platform_that_keeps_part_of_the_fee_refunds_the_rest_by_its_own_terms(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with sessions() as db:
        seed_catalogue(db, read_seed(CATALOGUE), now=now())
    with sessions() as db, transaction(db):
        # The city's hospitals are on Shenzhen's platform, which keeps a yuan of a cancelled fee.
        db.execute(delete(UpstreamConnection).where(UpstreamConnection.city_code == CITY))
        connection = UpstreamConnection(
            city_code=CITY, service_code="outpatient", adapter="shenzhen_health_platform", params={}, updated_at=now()
        )
        db.add(connection)
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    kept = CANCEL_POLICIES["shenzhen_health_platform"].retained_fen
    assert held.fee_fen > kept and held.refund_on_cancel_fen == held.fee_fen - kept
    with sessions() as db:
        cancel_paid_appointment(db, desk, fake, resident, held.id)
        refund = db.scalars(select(Refund)).one()
        assert (refund.amount_fen, refund.requested_by) == (held.fee_fen - kept, "resident")
    assert records(caplog, "a cancelled appointment's refund is left to its task") == []  # asked, and accepted
    settle_refunds(sessions, gateway, now)
    now.at += timedelta(seconds=11)
    run_outbox(sessions, desk)
    with sessions() as db:
        assert db.scalars(select(Payment.status)).one() == statuses.PARTIALLY_REFUNDED
        assert db.scalars(select(OutboxTask.done_at).where(OutboxTask.kind == "cancel_refund")).one() is not None


def test_a_cancel_refunds_what_remains_even_one_fen(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    with sessions() as db:
        request_refund(db, gateway, payment.id, held.fee_fen - 1, "goodwill", "staff:1", NOTIFY, now)
    with sessions() as db:
        cancel_paid_appointment(db, desk, fake, resident, held.id)
        assert db.scalars(select(Refund.amount_fen).where(Refund.requested_by == "resident")).one() == 1


def test_a_refund_refused_on_cancel_is_logged_with_who_asked_and_why(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    gateway.refusing_refunds = True
    with sessions() as db:
        cancel_paid_appointment(db, desk, fake, resident, held.id)
    [refused] = records(caplog, "the channel refused a refund we owe")
    assert (refused.levelname, getattr(refused, "requested_by", None)) == ("ERROR", "resident")
    [left] = records(caplog, "a cancelled appointment's refund is left to its task")
    assert getattr(left, "code", None) == "billing.refund_owed"


def test_the_hospital_refusing_a_paid_place_is_logged_with_its_reason(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        hold_id = db.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == held.id))
    fake.cancel(hold_id)
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    [refused] = records(caplog, "the hospital refused a paid place; refunding")
    assert getattr(refused, "code", None) == "outpatient.hold_cancelled"
    with sessions() as db:
        assert db.scalars(select(Refund.requested_by)).all() == ["saga:hospital_refused"]


def test_a_place_the_hospital_cannot_take_back_now_lapses_there_and_the_money_still_goes_back(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    caplog: pytest.LogCaptureFixture,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)

    def resident_cancels_and_the_hospital_goes_down() -> None:
        with sessions() as db, transaction(db):
            db.execute(update(Appointment).values(status="cancelled"))
        fake.down = True

    racing = replace(
        desk, provider_for=provider_of(CancelledWhileBooking(fake, resident_cancels_and_the_hospital_goes_down))
    )
    run_outbox(sessions, racing)
    [warned] = records(caplog, "a place could not be given back to the hospital")
    assert getattr(warned, "code", None) == "upstream.unavailable"
    with sessions() as db:
        assert db.scalars(select(Refund.requested_by)).all() == ["saga:appointment_ended"]


def test_a_paid_order_for_something_else_is_no_appointment_fee(
    sessions: sessionmaker[Session], session: Session, gateway: FakePaymentGateway, desk: FeeDesk, now: Now
) -> None:
    resident = make_resident(session)
    charge = Charge(
        purpose="parking",
        purpose_ref="p_1",
        resident_id=resident.id,
        city_code=CITY,
        service_code="parking",
        app_id=MINI,
        payer="o-payer",
        amount_fen=500,
        description="停车费",
        expires_at=now() + timedelta(minutes=10),
        notify_url=NOTIFY,
    )
    payment = open_payment(session, gateway, charge, now)
    pay(session, gateway, payment, now)
    with sessions() as db:
        fulfil_paid_fee(db, desk, payment.out_trade_no)
        assert db.scalars(select(Refund)).all() == []


def test_money_for_a_place_whose_resident_was_erased_goes_back_in_full(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    with sessions() as db:
        erased = db.get(Resident, payment.resident_id)
        assert erased is not None
        erase_resident(db, erased, now=now(), erasers=(erase_appointments, erase_payer))
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    with sessions() as db:
        refund = db.scalars(select(Refund)).one()
        assert (refund.amount_fen, refund.requested_by) == (held.fee_fen, "saga:appointment_ended")
    assert told(sessions) == []  # nobody left to tell


@pytest.mark.parametrize("since", ["cancelled", "begun"])
def test_no_booking_notice_for_a_visit_cancelled_or_begun_before_it_went_out(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    since: str,
) -> None:
    held, payment = held_and_opened(session, fake, gateway, now)
    pay(session, gateway, payment, now)
    with sessions() as db:
        fulfil_paid_fee(db, desk, payment.out_trade_no)  # booked; its notice is a task not yet run
    with sessions() as db, transaction(db):
        if since == "cancelled":
            db.execute(update(Appointment).values(status="cancelled"))
        else:
            now.at = held.starts_at
    run_outbox(sessions, desk)
    assert "appointment" not in told(sessions)
    with sessions() as db:
        assert db.scalars(select(OutboxTask.done_at).where(OutboxTask.kind == BOOKED_NOTICE)).one() is not None


def test_the_order_carries_the_payer_the_callback_and_a_description_the_channel_takes(
    session: Session, fake: FakeOutpatient, gateway: FakePaymentGateway, now: Now
) -> None:
    resident = make_resident(session)
    held = hold(session, fake, resident, tomorrow_slot(fake, offset=2), now)
    long_named = replace(held, hospital_name="浙江大学医学院附属第一医院" * 3, department_name="心血管内科" * 4)
    payment = open_fee(session, gateway, long_named, resident.id, MINI, "o-payer", NOTIFY, now)
    order = gateway._orders[payment.out_trade_no].order
    assert (order.payer, order.notify_url, order.app_id) == ("o-payer", NOTIFY, MINI)
    assert order.description == f"{long_named.hospital_name} {long_named.department_name} 挂号费"[:60]
    assert len(order.description) == 60


def test_a_refund_step_waits_only_for_its_own_payment_s_refunds(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    first, first_payment = held_and_opened(session, fake, gateway, now)
    other = make_resident(session, "330106199001015678")
    second = hold(session, fake, other, tomorrow_slot(fake, offset=2, index=1), now)
    second_payment = open_fee(session, gateway, second, other.id, MINI, "o-other", NOTIFY, now)
    with sessions() as db:
        for hold_id in db.scalars(select(Appointment.upstream_hold_id)):
            fake.cancel(hold_id)  # the hospital gave both places away
    pay(session, gateway, first_payment, now)
    pay(session, gateway, second_payment, now)
    run_outbox(sessions, desk)  # both refunded in full, both tasks waiting for the money
    with sessions() as db:
        out_refund_no = db.scalar(select(Refund.out_refund_no).where(Refund.payment_id == second_payment.id))
    assert out_refund_no is not None
    back = gateway.settle_refund(second_payment.out_trade_no, out_refund_no)
    with sessions() as db:
        assert receive_notification(db, gateway, back.headers, back.body, vault=VAULT, clock=now).received
    now.at += timedelta(seconds=11)
    assert run_outbox(sessions, desk) == 1  # the second's money is back; the first's is not
    with sessions() as db:
        waiting = db.scalars(select(OutboxTask.ref).where(OutboxTask.kind == "fulfil", OutboxTask.done_at.is_(None)))
        assert list(waiting) == [first_payment.out_trade_no]


def test_a_refund_notice_waits_until_the_channel_has_accepted_the_refund(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    held, payment, resident = booked_and_paid(sessions, session, fake, gateway, desk, now)
    told_desk, inbox = listening(session, resident.id, desk, now)
    gateway.down = True  # the refund is recorded, and the channel cannot be asked yet
    with sessions() as db:
        assert cancel_paid_appointment(db, told_desk, fake, resident, held.id).status == "cancelled"
    run_outbox(sessions, told_desk)
    with sessions() as db:
        notice = db.scalars(select(OutboxTask).where(OutboxTask.kind == REFUND_NOTICE)).one()
        assert (notice.done_at, notice.last_error) == (None, "billing.refund_pending")
    assert inbox.delivered == []


def paid_and_booked_for(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
    person: int,
) -> tuple[str, Payment]:
    """A paid place booked at the hospital for the person-th patient: the appointment's id and its payment."""
    first = f"33010619900101{person:03d}"
    resident = make_resident(session, first + check_digit(first))
    held = hold(session, fake, resident, tomorrow_slot(fake, offset=2), now)
    payment = open_fee(session, gateway, held, resident.id, MINI, "o-payer", NOTIFY, now)
    pay(session, gateway, payment, now)
    run_outbox(sessions, desk)
    return held.id, payment


def hold_of(session: Session, public_id: str) -> str:
    hold_id = session.scalar(select(Appointment.upstream_hold_id).where(Appointment.public_id == public_id))
    assert hold_id is not None
    return hold_id


def test_a_confirmed_appointment_booked_at_the_hospital_is_delivered_and_others_are_not(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    kept, kept_payment = paid_and_booked_for(sessions, session, fake, gateway, desk, now, 1)
    dropped, dropped_payment = paid_and_booked_for(sessions, session, fake, gateway, desk, now, 2)
    ours_only, ours_only_payment = paid_and_booked_for(sessions, session, fake, gateway, desk, now, 3)
    fake.cancel(hold_of(session, dropped))  # the hospital gave the place away; our books still say confirmed
    with transaction(session):
        session.execute(update(Appointment).where(Appointment.public_id == ours_only).values(status="held"))
    paid = [(kept_payment.id, kept), (dropped_payment.id, dropped), (ours_only_payment.id, ours_only)]
    assert not_booked(session, provider_of(fake), paid) == {dropped_payment.id, ours_only_payment.id}


def test_a_hold_the_hospital_never_had_is_not_delivered_and_an_erased_ones_fee_is_not_judged(
    sessions: sessionmaker[Session],
    session: Session,
    fake: FakeOutpatient,
    gateway: FakePaymentGateway,
    desk: FeeDesk,
    now: Now,
) -> None:
    unknown, unknown_payment = paid_and_booked_for(sessions, session, fake, gateway, desk, now, 4)
    with transaction(session):
        session.execute(
            update(Appointment).where(Appointment.public_id == unknown).values(upstream_hold_id="999999999")
        )
    paid = [(unknown_payment.id, unknown), (424242, "ap-erased-with-its-resident")]
    assert not_booked(session, provider_of(fake), paid) == {unknown_payment.id}
