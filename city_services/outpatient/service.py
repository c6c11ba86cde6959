"""Outpatient use-cases: search a city's hospitals, hold a slot for a verified resident, read and cancel it.

A hold first reserves under the anti-scalping limits (limits.py), then asks the platform with no
transaction open, then records the answer on the reservation.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from city_services.models import UpstreamConnection
from city_services.outpatient import models
from city_services.outpatient.cancel_terms import cancel_terms
from city_services.outpatient.limits import reserve
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import CONFIRMED
from city_services.outpatient.provider import HOLD_EXPIRED
from city_services.outpatient.provider import Department
from city_services.outpatient.provider import Hold
from city_services.outpatient.provider import Hospital
from city_services.outpatient.provider import OutpatientProvider
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from database import transaction
from database.transaction import end_reads
from database.transaction import rows_changed
from errors import Conflict
from errors import DomainError
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from errors import UpstreamRejected
from identity.allowances import Allowances
from identity.models import Resident
from identity.people import person_ids
from identity.real_name import ID_NUMBER
from identity.real_name import REAL_NAME
from identity.vault import Vault

SERVICE = "outpatient"
log = logging.getLogger("citytiles.outpatient")
# Schedules are published for today and the six days after, in Beijing time.
SCHEDULE_DAYS = 7
# Ids as the platforms write them; anything else names nothing they hold.
_UPSTREAM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}", re.ASCII)
_PUBLIC_ID = re.compile(r"ap[0-9a-f]{20}", re.ASCII)

NOT_FOUND_CODES = {
    "hospital": "outpatient.hospital_not_found",
    "department": "outpatient.department_not_found",
    "slot": "outpatient.slot_not_found",
}


@dataclass(frozen=True)
class SlotChoice:
    """What a resident asks to hold."""

    city: str
    hospital_id: str
    department_id: str
    slot_id: str


@dataclass(frozen=True)
class AppointmentView:
    """An appointment as its resident sees it: the status as of now (a held place past its time is expired)."""

    id: str
    city: str
    hospital_id: str
    hospital_name: str
    department_id: str
    department_name: str
    slot_id: str
    doctor: str
    starts_at: datetime
    ends_at: datetime
    fee_fen: int
    status: str
    expires_at: datetime | None
    created_at: datetime
    updated_at: datetime
    # The payment of the fee, for a place that has one (what the front end opens the payment sheet with).
    payment_id: str | None = None
    # For a paid place: until when the resident may cancel it, and how much of the fee comes back then.
    cancel_until: datetime | None = None
    refund_on_cancel_fen: int | None = None


def check_id(kind: str, value: str) -> str:
    """A hospital, department or slot id from a path or body: a malformed one names nothing (404)."""
    if _UPSTREAM_ID.fullmatch(value) is None:
        raise NotFound(NOT_FOUND_CODES[kind], f"No such {kind}.", {kind: "unknown"})
    return value


def hospitals(provider: OutpatientProvider) -> list[Hospital]:
    """The city's hospitals."""
    return provider.hospitals()


def departments(provider: OutpatientProvider, hospital_id: str) -> list[Department]:
    """A hospital's departments."""
    return provider.departments(check_id("hospital", hospital_id))


def schedules(
    provider: OutpatientProvider, hospital_id: str, department_id: str, day: date, now: datetime
) -> list[Slot]:
    """A department's slots on a day within the published week."""
    check_id("hospital", hospital_id)
    check_id("department", department_id)
    today = now.astimezone(BEIJING).date()
    last = today + timedelta(days=SCHEDULE_DAYS - 1)
    if not today <= day <= last:
        raise Invalid(
            "outpatient.date_out_of_range",
            f"Schedules are published for {today.isoformat()} to {last.isoformat()} (Beijing time).",
            {"from": today.isoformat(), "to": last.isoformat()},
        )
    return provider.schedules(hospital_id, department_id, day)


def hold_slot(
    session: Session,
    provider: OutpatientProvider,
    resident: Resident,
    choice: SlotChoice,
    *,
    channel: str,
    vault: Vault,
    weekly_limit: int,
    clock: Callable[[], datetime],
) -> AppointmentView:
    """Hold a slot for a verified resident; a free one is confirmed at once, a paid one waits for payment."""
    patient = _patient(resident, vault)
    slot = provider.slot(
        check_id("hospital", choice.hospital_id),
        check_id("department", choice.department_id),
        check_id("slot", choice.slot_id),
    )
    adapter = _adapter(session, choice.city)
    end_reads(session)
    reservation_id = reserve(
        session, resident.id, choice.city, slot, channel, adapter, weekly_limit, clock(), kept=Allowances(vault)
    )
    try:
        hold = provider.hold(slot, patient, reservation_id)
        if hold.status != CONFIRMED and hold.fee_fen == 0:
            hold = _book_free(provider, hold)
    except BaseException:
        # The platform keeps nothing we know of (a hold whose answer was lost expires there by itself).
        with transaction(session):
            session.execute(delete(Appointment).where(Appointment.public_id == reservation_id))
        raise
    return _record_hold(session, provider, reservation_id, hold, clock())


def _book_free(provider: OutpatientProvider, hold: Hold) -> Hold:
    """A free place needs no payment: book it now, or give it back rather than leave it held unseen."""
    try:
        return provider.book(hold.hold_id)
    except DomainError:
        try:
            provider.cancel(hold.hold_id)
        except DomainError:
            log.warning("a free hold could not be given back; it expires by itself", extra={"service": SERVICE})
        raise


def appointment(session: Session, resident: Resident, public_id: str, now: datetime) -> AppointmentView:
    """One of the resident's appointments."""
    return view(_own(session, resident, public_id), now)


def my_appointments(session: Session, resident: Resident, now: datetime) -> list[AppointmentView]:
    """The resident's appointments, newest first."""
    rows = session.scalars(
        select(Appointment)
        .where(Appointment.resident_id.in_(person_ids(session, resident.id)), Appointment.status != models.HOLDING)
        .order_by(Appointment.created_at.desc(), Appointment.id.desc())
        .limit(200)
    )
    return [view(row, now) for row in rows]


def appointment_city(session: Session, resident: Resident, public_id: str) -> str:
    """Which city's platform holds the appointment (to open that city's service first)."""
    return _own(session, resident, public_id).city_code


SYSTEM_CHANGED = "outpatient.system_changed"
# Work written in the same transaction as an appointment's outcome, e.g. a task the outcome owes.
Settled = Callable[[Session, datetime], None]


def cancel_appointment(
    session: Session,
    provider: OutpatientProvider,
    resident: Resident,
    public_id: str,
    clock: Callable[[], datetime],
    *,
    also: Settled | None = None,
) -> AppointmentView:
    """Give the place back; cancelling twice answers the same, an expired hold cannot be cancelled.

    `also` is written in the same transaction as the cancellation (e.g. the refund it owes, as an outbox task).
    """
    row = _own(session, resident, public_id)
    status = view(row, clock()).status
    if status == models.CANCELLED:
        return view(row, clock())
    if status == models.EXPIRED:
        raise Conflict(HOLD_EXPIRED, "The hold expired and its place was given back.")
    hold_id, row_id = row.upstream_hold_id, row.id
    assert hold_id is not None  # only a reservation has none, and _own never shows one
    if row.adapter != _adapter(session, row.city_code):
        # The city now books through another system, which has never heard of this hold.
        raise Conflict(SYSTEM_CHANGED, "The city's hospital system has changed; cancel with the hospital directly.")
    end_reads(session)
    try:
        provider.cancel(hold_id)
    except UpstreamRejected as refused:
        if refused.code == HOLD_EXPIRED:
            _settle(session, row_id, models.EXPIRED, clock())
        raise
    return view(_settle(session, row_id, models.CANCELLED, clock(), also), clock())


def confirm_appointment(
    session: Session,
    provider: OutpatientProvider,
    public_id: str,
    clock: Callable[[], datetime],
    *,
    also: Settled | None = None,
) -> AppointmentView:
    """Book a held place for good (payments call this once the fee is paid); `also` commits with the booking."""
    row = session.scalar(select(Appointment).where(Appointment.public_id == public_id))
    if row is None or row.upstream_hold_id is None:
        raise NotFound("outpatient.appointment_not_found", "No such appointment.")
    hold_id, row_id = row.upstream_hold_id, row.id
    end_reads(session)
    try:
        provider.book(hold_id)
    except UpstreamRejected as refused:
        if refused.code == HOLD_EXPIRED:
            _settle(session, row_id, models.EXPIRED, clock())
        raise
    return view(_settle(session, row_id, models.CONFIRMED, clock(), also), clock())


def expire_holds(session: Session, now: datetime) -> int:
    """Mark held places past their time expired and drop reservations left by interrupted requests."""
    with transaction(session):
        expired = session.execute(
            update(Appointment)
            .where(Appointment.status == models.HELD, Appointment.expires_at <= now)
            .values(status=models.EXPIRED, updated_at=now)
        )
        session.execute(delete(Appointment).where(Appointment.status == models.HOLDING, Appointment.expires_at <= now))
    return rows_changed(expired)


def give_back_held_places(
    session: Session,
    resident: Resident,
    provider_for: Callable[[str], OutpatientProvider],
    clock: Callable[[], datetime],
) -> int:
    """Before a person is erased, give their held places back to the hospitals; how many went back.

    A platform that cannot be reached, or a city that no longer offers the service, keeps its hold
    until it expires there by itself; the hold still counts against the person's limits meanwhile.
    """
    now = clock()
    held = session.execute(
        select(Appointment.public_id, Appointment.city_code).where(
            Appointment.resident_id.in_(person_ids(session, resident.id)),
            Appointment.status == models.HELD,
            Appointment.expires_at > now,
        )
    ).all()
    given_back = 0
    for public_id, city in held:
        try:
            cancel_appointment(session, provider_for(city), resident, public_id, clock)
        except DomainError as refused:
            log.warning(
                "a held place could not be given back before an erasure; it expires by itself",
                extra={"service": SERVICE, "code": refused.code},
            )
        else:
            given_back += 1
    return given_back


def erase_appointments(session: Session, resident_ids: frozenset[int], now: datetime) -> None:
    """The person's appointments go (inside the erasing transaction); the hospitals keep their own records."""
    session.execute(delete(Appointment).where(Appointment.resident_id.in_(resident_ids)))


def view(row: Appointment, now: datetime) -> AppointmentView:
    """The resident's view of a row as of now."""
    status = row.status
    if status == models.HELD and row.expires_at is not None and row.expires_at <= now:
        status = models.EXPIRED
    terms = cancel_terms(row.adapter, row.starts_at.astimezone(UTC), row.fee_fen) if row.fee_fen > 0 else None
    return AppointmentView(
        id=row.public_id,
        city=row.city_code,
        hospital_id=row.hospital_id,
        hospital_name=row.hospital_name,
        department_id=row.department_id,
        department_name=row.department_name,
        slot_id=row.slot_id,
        doctor=row.doctor,
        starts_at=row.starts_at.astimezone(UTC),
        ends_at=row.ends_at.astimezone(UTC),
        fee_fen=row.fee_fen,
        status=status,
        expires_at=row.expires_at.astimezone(UTC) if row.expires_at is not None and status == models.HELD else None,
        created_at=row.created_at.astimezone(UTC),
        updated_at=row.updated_at.astimezone(UTC),
        cancel_until=terms.cancel_until if terms is not None else None,
        refund_on_cancel_fen=terms.refund_fen if terms is not None else None,
    )


def _patient(resident: Resident, vault: Vault) -> Patient:
    """The patient the hospital checks: the verified name and ID number, unsealed for this call only."""
    if resident.real_name_verified_at is None or not resident.real_name_sealed or not resident.id_number_sealed:
        raise Forbidden(
            "outpatient.real_name_required", "Verify your real name first: hospitals register patients by ID number."
        )
    return Patient(vault.open(REAL_NAME, resident.real_name_sealed), vault.open(ID_NUMBER, resident.id_number_sealed))


def _adapter(session: Session, city: str) -> str:
    """The adapter the city's outpatient connection uses now."""
    adapter = session.scalar(
        select(UpstreamConnection.adapter).where(
            UpstreamConnection.city_code == city, UpstreamConnection.service_code == SERVICE
        )
    )
    return adapter or "unknown"


def _record_hold(
    session: Session, provider: OutpatientProvider, public_id: str, hold: Hold, now: datetime
) -> AppointmentView:
    """The platform's answer on our reservation; if the reservation went meanwhile (erased), give the place back."""
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.public_id == public_id).with_for_update())
        if row is not None:
            row.status = models.CONFIRMED if hold.status == CONFIRMED else models.HELD
            row.upstream_hold_id = hold.hold_id
            row.fee_fen = hold.fee_fen
            row.expires_at = hold.expires_at if row.status == models.HELD else None
            row.updated_at = now
    if row is None:
        provider.cancel(hold.hold_id)
        raise Conflict("identity.resident_changed", "This account was erased meanwhile; log in again.")
    return view(row, now)


def _own(session: Session, resident: Resident, public_id: str) -> Appointment:
    """The resident's appointment (not another's, not a reservation in flight), or 404."""
    row = None
    if _PUBLIC_ID.fullmatch(public_id):
        row = session.scalar(
            select(Appointment).where(
                Appointment.public_id == public_id,
                Appointment.resident_id.in_(person_ids(session, resident.id)),
                Appointment.status != models.HOLDING,
            )
        )
    if row is None:
        raise NotFound("outpatient.appointment_not_found", "You have no appointment with this id.")
    return row


# What a platform's answer may move a row from: an answer that arrives after another was written
# (a booking finishing after the resident cancelled) never undoes it.
SETTLES_FROM = {
    models.CONFIRMED: (models.HELD,),
    models.CANCELLED: (models.HELD, models.CONFIRMED),
    models.EXPIRED: (models.HELD,),
}


def _settle(session: Session, row_id: int, status: str, now: datetime, also: Settled | None = None) -> Appointment:
    """Write the outcome the platform reported, under the row's lock, unless another outcome was written first."""
    with transaction(session):
        row = session.scalar(select(Appointment).where(Appointment.id == row_id).with_for_update())
        if row is None:
            raise NotFound("outpatient.appointment_not_found", "You have no appointment with this id.")
        if row.status not in SETTLES_FROM[status]:
            return row
        row.status = status
        row.expires_at = None  # every outcome ends the hold
        row.updated_at = now
        if also is not None:
            also(session, now)
    return row
