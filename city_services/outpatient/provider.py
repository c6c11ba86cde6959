"""The outpatient port: what citytiles asks of a city's hospital platform, and what it gets back.

Ids are the platform's own (a hospital, a department within it, a slot); times are aware UTC;
fees are integer fen. Every adapter raises only our errors: `UpstreamRejected` for a final answer
(codes below), `UpstreamUnavailable` for no usable answer.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Protocol

from errors import UpstreamRejected

# Hospitals keep Beijing time; a schedule's day is a day there.
BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")

# What an upstream hold is now, in our words.
HELD, CONFIRMED, CANCELLED, EXPIRED = "held", "confirmed", "cancelled", "expired"

# The final answers a platform gives, as the codes residents see.
HOSPITAL_NOT_FOUND = "outpatient.hospital_not_found"
DEPARTMENT_NOT_FOUND = "outpatient.department_not_found"
SLOT_NOT_FOUND = "outpatient.slot_not_found"
HOLD_NOT_FOUND = "outpatient.hold_not_found"
SLOT_UNAVAILABLE = "outpatient.slot_unavailable"
DUPLICATE = "outpatient.duplicate_appointment"
HOLD_EXPIRED = "outpatient.hold_expired"
HOLD_CANCELLED = "outpatient.hold_cancelled"
PATIENT_REFUSED = "outpatient.patient_refused"


@dataclass(frozen=True)
class Hospital:
    """A hospital (or campus) the platform books for."""

    hospital_id: str
    name: str
    level: str | None = None
    district: str | None = None


@dataclass(frozen=True)
class Department:
    """A clinic of one hospital."""

    department_id: str
    hospital_id: str
    name: str


@dataclass(frozen=True)
class Slot:
    """One doctor's hour, its fee and the places left."""

    slot_id: str
    hospital_id: str
    department_id: str
    doctor: str
    doctor_title: str
    starts_at: datetime
    ends_at: datetime
    fee_fen: int
    remaining: int
    # As the platform names them, for the resident's list and notices.
    hospital_name: str = ""
    department_name: str = ""

    @property
    def day(self) -> date:
        """The day of the visit, in Beijing time."""
        return self.starts_at.astimezone(BEIJING).date()


@dataclass(frozen=True)
class Patient:
    """Who the place is for, as the hospital checks it; never logged, never kept in clear."""

    name: str = field(repr=False)
    id_number: str = field(repr=False)


@dataclass(frozen=True)
class Hold:
    """A place the platform keeps for a patient: held until expires_at, or confirmed, or over."""

    hold_id: str
    status: str
    fee_fen: int
    expires_at: datetime | None


class OutpatientProvider(Protocol):
    """One hospital platform."""

    def hospitals(self) -> list[Hospital]:
        """Every hospital the platform books for."""

    def departments(self, hospital_id: str) -> list[Department]:
        """A hospital's departments; HOSPITAL_NOT_FOUND for an unknown one."""

    def schedules(self, hospital_id: str, department_id: str, day: date) -> list[Slot]:
        """The slots of a department on a (Beijing) day, by start time; unknown ids are not found."""

    def slot(self, hospital_id: str, department_id: str, slot_id: str) -> Slot:
        """One slot as it stands; SLOT_NOT_FOUND unless it is that department's."""

    def hold(self, slot: Slot, patient: Patient, reference: str) -> Hold:
        """Take a place; reference is our order number (a platform that dedupes by it answers the first hold)."""

    def book(self, hold_id: str) -> Hold:
        """Confirm a held place (after payment, or at once when free); confirming twice answers the same."""

    def cancel(self, hold_id: str) -> Hold:
        """Give a held or confirmed place back; cancelling twice answers the same."""

    def booking(self, hold_id: str) -> Hold:
        """The hospital's record of a hold now: held, confirmed, cancelled or expired; HOLD_NOT_FOUND if it has none."""


def not_found(code: str, what: str) -> UpstreamRejected:
    """A final 'no such thing' answer."""
    return UpstreamRejected(code, f"The hospital platform knows no such {what}.", kind="not_found")


def refused(code: str, message: str) -> UpstreamRejected:
    """A final 'not now, not this' answer."""
    return UpstreamRejected(code, message, kind="conflict")


SLOT_GONE_MESSAGE = "This slot has no place left or has started; pick another."
DUPLICATE_MESSAGE = "The hospital allows one appointment per patient per department per day."
EXPIRED_MESSAGE = "The hold expired and its place was given back."
CANCELLED_MESSAGE = "This appointment was cancelled."
