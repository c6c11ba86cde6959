"""The fee of a held place: paid with the hold, then the place is booked for good or the money goes back.

The saga, every step idempotent: the hold lasts longer than the payment may (the order closes
at the channel before the hold lapses at the hospital); a paid order's fulfilment is an outbox
task, so a crash loses nothing; the hospital confirms and the resident is told, or it refuses
(the place is gone, the hold lapsed) and the whole fee is refunded and the resident told why;
money that arrives after the order closed or the appointment ended is refunded the same way.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.gateway import PaymentGateway
from billing.models import Payment
from billing.models import Refund
from billing.outbox import Handler
from billing.outbox import enqueue
from billing.payments import Charge
from billing.payments import open_payment
from billing.payments import payment_for
from billing.refunds import amount_available
from billing.refunds import open_refund_of
from billing.refunds import request_refund
from billing.statuses import CREATED
from billing.statuses import PROCESSING
from billing.statuses import REFUND_FAILED
from billing.statuses import REFUNDABLE
from billing.statuses import REQUESTED
from city_services.notices import Notices
from city_services.outpatient import models
from city_services.outpatient.cancel_terms import cancel_terms
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import HOLD_EXPIRED
from city_services.outpatient.provider import OutpatientProvider
from city_services.outpatient.service import SERVICE
from city_services.outpatient.service import AppointmentView
from city_services.outpatient.service import Settled
from city_services.outpatient.service import appointment
from city_services.outpatient.service import cancel_appointment
from city_services.outpatient.service import confirm_appointment
from city_services.outpatient.service import view
from database import transaction
from database.transaction import end_reads
from errors import Conflict
from errors import DomainError
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from identity.models import Resident

PURPOSE = "outpatient"
log = logging.getLogger("citytiles.outpatient")
# What the refund notice says, per who asked for the refund (the saga's steps and the resident only).
ITEMS = {
    "saga:hospital_refused": "挂号费退款: 医院未能预约",
    "saga:appointment_ended": "挂号费退款: 预约已结束",
    "resident": "挂号费退款: 已取消预约",
}
# How long a resident may take to pay, at most.
PAYMENT_WINDOW = timedelta(minutes=10)
# The order closes at the channel this long before the hospital's hold lapses, so no one pays for a lost place.
CLOSE_MARGIN = timedelta(minutes=3)
APPOINTMENT_NOTICE, PAYMENT_NOTICE = "appointment", "payment"
# Refunds whose money is neither back nor free again.
REFUND_OPEN = (REQUESTED, PROCESSING)
# Outbox tasks an outcome owes, written in the same transaction as the outcome, so a crash loses neither.
BOOKED_NOTICE, CANCEL_REFUND, REFUND_NOTICE = "booked_notice", "cancel_refund", "refund_notice"


@dataclass(frozen=True)
class FeeDesk:
    """What the saga needs from outside: the hospital of each city, the merchant of each payment, notices."""

    provider_for: Callable[[Session, str], OutpatientProvider]
    gateway_for: Callable[[Payment], PaymentGateway]
    notify_url_for: Callable[[PaymentGateway], str]
    notices: Notices
    clock: Callable[[], datetime]


def open_fee(
    session: Session,
    gateway: PaymentGateway,
    view: AppointmentView,
    resident_id: int,
    app_id: str,
    payer: str,
    notify_url: str,
    clock: Callable[[], datetime],
) -> Payment:
    """The payment of a held place's fee, due before the hold lapses."""
    now = clock()
    if view.status != models.HELD or view.expires_at is None:
        raise Conflict("outpatient.nothing_to_pay", "This appointment has no fee waiting to be paid.")
    expires_at = min(now + PAYMENT_WINDOW, view.expires_at - CLOSE_MARGIN)
    if expires_at <= now:
        raise Conflict(HOLD_EXPIRED, "The hold ends too soon to pay; hold the slot again.")
    charge = Charge(
        purpose=PURPOSE,
        purpose_ref=view.id,
        resident_id=resident_id,
        city_code=view.city,
        service_code=SERVICE,
        app_id=app_id,
        payer=payer,
        amount_fen=view.fee_fen,
        description=f"{view.hospital_name} {view.department_name} 挂号费"[:60],
        expires_at=expires_at,
        notify_url=notify_url,
    )
    return open_payment(session, gateway, charge, clock)


def fee_payment_id(session: Session, appointment_id: str) -> str | None:
    """The public id of the appointment's payment, if it has one."""
    payment = payment_for(session, PURPOSE, appointment_id)
    return payment.public_id if payment is not None else None


def fulfil_paid_fee(session: Session, desk: FeeDesk, out_trade_no: str) -> None:
    """A fee was paid: book the place for good, or give the money back and say why (run again, it does nothing new)."""
    payment = session.scalar(select(Payment).where(Payment.out_trade_no == out_trade_no))
    if payment is None or payment.purpose != PURPOSE:
        return
    row = session.scalar(select(Appointment).where(Appointment.public_id == payment.purpose_ref))
    if row is not None and row.status == models.CONFIRMED:
        return
    if row is None or row.upstream_hold_id is None or row.status not in (models.HELD,):
        # Erased, cancelled or lapsed before the money came: nothing to book, so nothing to keep.
        _give_back(session, desk, payment, "saga:appointment_ended", "paid after the appointment ended")
        _until_refunds_settle(session, payment.id)
        return
    public_id, city, hold_id = row.public_id, row.city_code, row.upstream_hold_id
    end_reads(session)
    try:
        booked = confirm_appointment(
            session, desk.provider_for(session, city), public_id, desk.clock, also=_owe(BOOKED_NOTICE, public_id)
        )
    except UpstreamRejected as refused:
        log.warning("the hospital refused a paid place; refunding", extra={"code": refused.code})
        if refused.code != HOLD_EXPIRED:
            _end(session, public_id, desk.clock())
        _give_back(session, desk, payment, "saga:hospital_refused", "the hospital could not book the place")
        _until_refunds_settle(session, payment.id)
        return
    if booked.status != models.CONFIRMED:
        # The resident cancelled while the hospital was booking: the cancel stands, at the hospital too.
        _give_back_place(session, desk, city, hold_id)
        _give_back(session, desk, payment, "saga:appointment_ended", "paid after the appointment ended")
        _until_refunds_settle(session, payment.id)


def send_booked_notice(session: Session, desk: FeeDesk, public_id: str) -> None:
    """Tell the resident their paid place is booked: the task the booking wrote with itself."""
    row = session.scalar(select(Appointment).where(Appointment.public_id == public_id))
    if row is None or row.status != models.CONFIRMED or row.starts_at <= desk.clock():
        return  # cancelled since, its resident erased, or the visit begun: nothing to tell
    booked, resident_id = view(row, desk.clock()), row.resident_id
    end_reads(session)
    desk.notices.owe(
        session,
        resident_id,
        APPOINTMENT_NOTICE,
        {
            "patient": "本人",
            "hospital": booked.hospital_name,
            "department": booked.department_name,
            "time": booked.starts_at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
            "reference": booked.id,
        },
        now=desk.clock(),
    )


def cancel_paid_appointment(
    session: Session, desk: FeeDesk, provider: OutpatientProvider, resident: Resident, public_id: str
) -> AppointmentView:
    """The resident cancels: before the cut-off, the hospital gives the place back and the fee comes back by its terms.

    An unpaid order is closed at the channel, so nobody pays for a place given back.
    """
    own = appointment(session, resident, public_id, desk.clock())
    payment = payment_for(session, PURPOSE, public_id)
    paid = payment is not None and payment.status in REFUNDABLE
    terms = cancel_terms(_adapter_of(session, public_id), own.starts_at, own.fee_fen)
    if paid and own.status == models.CONFIRMED and desk.clock() >= terms.cancel_until:
        raise Conflict(
            "outpatient.past_cancel_cutoff",
            "It is too late to cancel this appointment here; contact the hospital.",
            {"cancel_until": terms.cancel_until.isoformat()},
        )
    # The refund the cancel owes, amount and all, is written with it: if this request dies before the channel
    # is asked, or the resident is erased (their appointments with them) before the task runs, the task pays it.
    owed = f"{public_id}:{terms.refund_fen}"
    cancelled = cancel_appointment(
        session, provider, resident, public_id, desk.clock, also=_owe(CANCEL_REFUND, owed) if paid else None
    )
    if payment is None:
        return cancelled
    if payment.status == CREATED:
        _close_unpaid(session, desk, payment)
    elif paid:
        try:
            refund_cancelled_fee(session, desk, owed, until_settled=False)
        except DomainError as failure:
            # The cancel has committed, and its task owns the refund from here: the resident hears "cancelled".
            log.warning("a cancelled appointment's refund is left to its task", extra={"code": failure.code})
    return cancelled


def refund_cancelled_fee(session: Session, desk: FeeDesk, owed: str, *, until_settled: bool = True) -> None:
    """Give back what a cancel owes, "<appointment id>:<fen>" as the cancel wrote it (run again, it does nothing new).

    As a task it is done only once the money is back: a refund still open is looked at again later,
    so one the channel refuses after accepting it (WeChat's CLOSED) is asked for anew.
    """
    public_id, _, refund_fen = owed.rpartition(":")
    payment = payment_for(session, PURPOSE, public_id)
    if payment is None or payment.status not in REFUNDABLE:
        return
    payment_id = payment.id
    _give_back(session, desk, payment, "resident", "cancelled by the resident", int(refund_fen))
    if until_settled:
        _until_refunds_settle(session, payment_id)


def fee_tasks(desk: FeeDesk) -> dict[str, Handler]:
    """The handlers of the outbox tasks the saga's outcomes write."""
    return {
        BOOKED_NOTICE: lambda session, public_id: send_booked_notice(session, desk, public_id),
        CANCEL_REFUND: lambda session, owed: refund_cancelled_fee(session, desk, owed),
        REFUND_NOTICE: lambda session, out_refund_no: send_refund_notice(session, desk, out_refund_no),
    }


def _owe(kind: str, public_id: str) -> Settled:
    """Write an outbox task for the appointment with its outcome."""
    return lambda session, now: enqueue(session, kind, public_id, now)


def _close_unpaid(session: Session, desk: FeeDesk, payment: Payment) -> None:
    """Close an order nobody should pay any more; the sweep closes it later if the channel cannot answer now."""
    try:
        gateway, out_trade_no = desk.gateway_for(payment), payment.out_trade_no
        end_reads(session)
        gateway.close(out_trade_no)
    except DomainError as failure:
        # Paid at this very moment: the late-payment path refunds it in full.
        log.warning("an order could not be closed on cancelling", extra={"code": failure.code})


def _adapter_of(session: Session, public_id: str) -> str:
    return session.scalar(select(Appointment.adapter).where(Appointment.public_id == public_id)) or ""


def _give_back(
    session: Session, desk: FeeDesk, payment: Payment, by: str, reason: str, at_most: int | None = None
) -> None:
    """Refund what remains of the fee (or at_most), once per reason, and tell the payer.

    Run again, it finds its refund (asked, processing or done) and does nothing new. A refund the
    channel refused does not count: a saga step fails then, so its outbox task asks again later
    with a new refund, until the money is back (a balance too low today is enough tomorrow).
    """
    remaining = amount_available(session, payment)
    if at_most is not None:
        remaining = min(remaining, at_most)
    if remaining <= 0 or open_refund_of(session, payment.id, by) is not None:
        return
    gateway = desk.gateway_for(payment)
    notify_url = desk.notify_url_for(gateway)

    def tell_payer(session: Session, _payment: Payment, refund: Refund) -> None:
        # Written with the refund, by whoever made it: a copy of this step that lost the race tells no one twice.
        enqueue(session, REFUND_NOTICE, refund.out_refund_no, desk.clock())

    refund = request_refund(
        session, gateway, payment.id, remaining, reason, by, notify_url, desk.clock, also=tell_payer, once=True
    )
    if refund.status == REFUND_FAILED:
        log.error("the channel refused a refund we owe", extra={"requested_by": by})
        raise UpstreamUnavailable("billing.refund_owed", "The channel refused a refund we owe; it is asked again.")


def send_refund_notice(session: Session, desk: FeeDesk, out_refund_no: str) -> None:
    """Tell the payer a fee is on its way back and why: the task each of the saga's refunds wrote with itself."""
    found = session.execute(
        select(Refund, Payment)
        .join(Payment, Payment.id == Refund.payment_id)
        .where(Refund.out_refund_no == out_refund_no)
    ).first()
    if found is None:
        return
    refund, payment = found
    if refund.status == REQUESTED:
        # Not yet accepted by the channel: a refusal would make the notice untrue, so look again later.
        raise UpstreamUnavailable("billing.refund_pending", "A refund is not accepted yet; it is looked at again.")
    if refund.status == REFUND_FAILED or payment.resident_id is None:
        return  # refused (the refund asked for anew has its own notice), or the payer erased
    resident_id = payment.resident_id
    fields = {
        "reference": payment.out_trade_no,
        "amount": f"{refund.amount_fen // 100}.{refund.amount_fen % 100:02d}元",
        "item": ITEMS[refund.requested_by],
        "time": desk.clock().astimezone(BEIJING).strftime("%Y-%m-%d %H:%M"),
    }
    end_reads(session)
    desk.notices.owe(session, resident_id, PAYMENT_NOTICE, fields, now=desk.clock())


def _until_refunds_settle(session: Session, payment_id: int) -> None:
    """Fail the task (it backs off and looks again) while a refund of the payment is asked for or processing."""
    open_refunds = session.scalars(
        select(Refund.status).where(Refund.payment_id == payment_id, Refund.status.in_(REFUND_OPEN))
    ).all()
    if open_refunds:
        raise UpstreamUnavailable("billing.refund_pending", "A refund is not settled yet; it is looked at again.")


def _give_back_place(session: Session, desk: FeeDesk, city: str, hold_id: str) -> None:
    """Cancel a place at the hospital that we no longer hold for anyone; it lapses there by itself otherwise."""
    try:
        desk.provider_for(session, city).cancel(hold_id)
    except DomainError as failure:
        log.warning("a place could not be given back to the hospital", extra={"code": failure.code})


def _end(session: Session, public_id: str, now: datetime) -> None:
    """The hospital will not book this place: it is no longer held for the resident."""
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.public_id == public_id).with_for_update())
        if row is not None and row.status == models.HELD:
            row.status = models.CANCELLED
            row.expires_at = None
            row.updated_at = now
