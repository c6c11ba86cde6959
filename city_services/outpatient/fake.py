"""The in-process fake outpatient system, for demos and tests: a week of slots, holds that expire."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import TypeVar

from city_services.connection_params import FakeConnection
from city_services.connection_params import whole_number
from city_services.outpatient import provider as port
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import Department
from city_services.outpatient.provider import Hold
from city_services.outpatient.provider import Hospital
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from city_services.upstream_link import UpstreamLink
from errors import UpstreamUnavailable

HOSPITALS = (Hospital("FK01", "示范医院", "三级甲等", "示范区"),)
DEPARTMENTS = (Department("FK01-NK", "FK01", "内科"), Department("FK01-BM", "FK01", "便民门诊"))
# department -> (doctor, title, fee in fen, places, start hours)
DOCTORS = {
    "FK01-NK": (("王医生", "主任医师", 5000, 3, (8, 9)), ("李医生", "主治医师", 1500, 10, (8, 14))),
    "FK01-BM": (("赵医生", "便民门诊", 0, 20, (8, 14)),),
}
WEEK = 7
T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Params(FakeConnection):
    """Only call limits and the hold lifetime: the fake has no address and no credentials, and production refuses it."""

    hold_seconds: int = whole_number(300, low=1, high=3600)

    def connect(self, link: UpstreamLink) -> FakeOutpatient:
        """A fresh in-memory system."""
        return FakeOutpatient(link, hold_seconds=self.hold_seconds)


@dataclass
class _Place:
    hold: Hold
    slot_id: str
    patient_key: tuple[str, str, date]
    reference: str


@dataclass
class FakeOutpatient:
    """A week of the demo hospital's slots, and a ledger that never gives a slot more holds than places."""

    link: UpstreamLink | None = None
    hold_seconds: int = 300
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    # Set to make every call fail as an unreachable system would.
    down: bool = False
    # Like zheyi_his, a free place is held until booked; like shenzhen_health_platform (default), confirmed at once.
    free_needs_booking: bool = False
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _taken: dict[str, int] = field(default_factory=dict)
    _places: dict[str, _Place] = field(default_factory=dict)
    _serial: itertools.count[int] = field(default_factory=itertools.count)

    def hospitals(self) -> list[Hospital]:
        """The demo hospital."""
        return self._call("hospitals", lambda: list(HOSPITALS))

    def departments(self, hospital_id: str) -> list[Department]:
        """Its departments."""
        return self._call("departments", lambda: self._departments(hospital_id))

    def schedules(self, hospital_id: str, department_id: str, day: date) -> list[Slot]:
        """The department's slots that day (none outside the week)."""
        return self._call("schedules", lambda: [s for s in self._week(hospital_id, department_id) if s.day == day])

    def slot(self, hospital_id: str, department_id: str, slot_id: str) -> Slot:
        """One slot of the department's week."""

        def find() -> Slot:
            for found in self._week(hospital_id, department_id):
                if found.slot_id == slot_id:
                    return found
            raise port.not_found(port.SLOT_NOT_FOUND, "slot")

        return self._call("slot", find)

    def hold(self, slot: Slot, patient: Patient, reference: str) -> Hold:
        """Take a place: one per patient per department per day; a free slot is confirmed at once."""
        return self._call("hold", lambda: self._hold(slot, patient, reference))

    def book(self, hold_id: str) -> Hold:
        """Confirm a held place."""
        return self._call("book", lambda: self._change(hold_id, port.CONFIRMED))

    def cancel(self, hold_id: str) -> Hold:
        """Give a place back."""
        return self._call("cancel", lambda: self._change(hold_id, port.CANCELLED))

    def booking(self, hold_id: str) -> Hold:
        """A place as it stands (a hold past its time reads expired)."""
        return self._call("booking", lambda: self._look_up(hold_id))

    def remaining(self, slot_id: str) -> int:
        """Places left in a slot (for tests)."""
        with self._lock:
            self._settle()
            capacity = next(s for d in DOCTORS for s in self._all(d) if s.slot_id == slot_id).remaining
            return capacity - self._taken.get(slot_id, 0)

    def _call(self, operation: str, work: Callable[[], T]) -> T:
        def attempt() -> T:
            if self.down:
                raise UpstreamUnavailable("upstream.unavailable", "The fake hospital platform is down.")
            return work()

        return self.link.call(operation, attempt, safe=False) if self.link is not None else attempt()

    def _departments(self, hospital_id: str) -> list[Department]:
        if hospital_id not in {h.hospital_id for h in HOSPITALS}:
            raise port.not_found(port.HOSPITAL_NOT_FOUND, "hospital")
        return [d for d in DEPARTMENTS if d.hospital_id == hospital_id]

    def _week(self, hospital_id: str, department_id: str) -> list[Slot]:
        if department_id not in {d.department_id for d in self._departments(hospital_id)}:
            raise port.not_found(port.DEPARTMENT_NOT_FOUND, "department")
        with self._lock:
            self._settle()
            now = self.clock()
            return [
                replace(s, remaining=s.remaining - self._taken.get(s.slot_id, 0))
                for s in self._all(department_id)
                if s.starts_at > now
            ]

    def _all(self, department_id: str) -> list[Slot]:
        today = self.clock().astimezone(BEIJING).date()
        slots = []
        for offset in range(WEEK):
            day = today + timedelta(days=offset)
            for number, (doctor, title, fee, places, hours) in enumerate(DOCTORS[department_id], start=1):
                for hour in hours:
                    start = datetime(day.year, day.month, day.day, hour, tzinfo=BEIJING)
                    slot_id = f"{department_id}-D{number}-{day:%Y%m%d}-{hour:02d}00"
                    slots.append(
                        Slot(
                            slot_id,
                            "FK01",
                            department_id,
                            doctor,
                            title,
                            start,
                            start + timedelta(hours=1),
                            fee,
                            places,
                            HOSPITALS[0].name,
                            next(d.name for d in DEPARTMENTS if d.department_id == department_id),
                        )
                    )
        return sorted(slots, key=lambda s: s.starts_at)

    def _hold(self, slot: Slot, patient: Patient, reference: str) -> Hold:
        current = self.slot(slot.hospital_id, slot.department_id, slot.slot_id)
        key = (patient.id_number, current.department_id, current.day)
        with self._lock:
            self._settle()
            for place in self._places.values():
                if place.reference == reference and place.slot_id == current.slot_id:
                    return place.hold
                if place.patient_key == key and place.hold.status in (port.HELD, port.CONFIRMED):
                    raise port.refused(port.DUPLICATE, port.DUPLICATE_MESSAGE)
            places = next(s.remaining for s in self._all(current.department_id) if s.slot_id == current.slot_id)
            if self._taken.get(current.slot_id, 0) >= places:
                raise port.refused(port.SLOT_UNAVAILABLE, port.SLOT_GONE_MESSAGE)
            free = current.fee_fen == 0 and not self.free_needs_booking
            hold = Hold(
                hold_id=f"fk-{next(self._serial):08d}",
                status=port.CONFIRMED if free else port.HELD,
                fee_fen=current.fee_fen,
                expires_at=None if free else self.clock() + timedelta(seconds=self.hold_seconds),
            )
            self._taken[current.slot_id] = self._taken.get(current.slot_id, 0) + 1
            self._places[hold.hold_id] = _Place(hold, current.slot_id, key, reference)
            return hold

    def _look_up(self, hold_id: str) -> Hold:
        with self._lock:
            self._settle()
            place = self._places.get(hold_id)
            if place is None:
                raise port.not_found(port.HOLD_NOT_FOUND, "appointment")
            return place.hold

    def _change(self, hold_id: str, status: str) -> Hold:
        with self._lock:
            self._settle()
            place = self._places.get(hold_id)
            if place is None:
                raise port.not_found(port.HOLD_NOT_FOUND, "appointment")
            current = place.hold.status
            if current == status:
                return place.hold
            if current == port.EXPIRED:
                raise port.refused(port.HOLD_EXPIRED, port.EXPIRED_MESSAGE)
            if current == port.CANCELLED:
                raise port.refused(port.HOLD_CANCELLED, port.CANCELLED_MESSAGE)
            place.hold = replace(place.hold, status=status, expires_at=None)
            if status == port.CANCELLED:
                self._taken[place.slot_id] -= 1
            return place.hold

    def _settle(self) -> None:
        """Holds past their time give their places back (the lock is held)."""
        now = self.clock()
        for place in self._places.values():
            expires = place.hold.expires_at
            if place.hold.status == port.HELD and expires is not None and expires <= now:
                place.hold = replace(place.hold, status=port.EXPIRED)
                self._taken[place.slot_id] -= 1
