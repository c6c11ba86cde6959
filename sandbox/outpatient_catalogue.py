"""What the emulated hospital systems offer: hospitals, departments, doctors, and their slots.

Each system seeds its own hospitals. A doctor's title decides the fee (fen), the patients per slot,
the hours and the weekdays they work. Slots exist for the seven days from today (Asia/Shanghai):
the schedule is computed from the date, so it moves on by itself as days pass.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sandbox.outbox import BEIJING

WINDOW_DAYS = 7
ALL_WEEK = (1, 2, 3, 4, 5, 6, 7)


@dataclass(frozen=True)
class Terms:
    """What a doctor's title means for their slots."""

    fee: int  # fen; 0 is a free clinic
    capacity: int  # patients per one-hour slot
    starts: tuple[str, ...]  # HH:MM, local time
    weekdays: tuple[int, ...]  # ISO, 1 = Monday


# Titles as Chinese hospitals print them; 便民门诊 (repeat prescriptions, consultations) is free.
TITLES = {
    "主任医师": Terms(5000, 3, ("08:00", "09:00"), (1, 3, 5)),
    "副主任医师": Terms(3000, 5, ("08:00", "09:00", "10:00", "14:00"), (2, 4, 6)),
    "主治医师": Terms(1500, 10, ("08:00", "09:00", "10:00", "14:00", "15:00", "16:00"), ALL_WEEK),
    "便民门诊": Terms(0, 20, ("08:00", "14:00"), ALL_WEEK),
}


@dataclass(frozen=True)
class Doctor:
    """One doctor (or a clinic without a named doctor)."""

    code: str
    name: str
    title: str


@dataclass(frozen=True)
class Department:
    """One department of one hospital."""

    code: str
    name: str
    doctors: tuple[Doctor, ...]


@dataclass(frozen=True)
class Hospital:
    """One hospital (or one campus of a hospital)."""

    code: str
    name: str
    level: str
    district: str
    departments: tuple[Department, ...]

    def department(self, code: str) -> Department | None:
        """The department with this code here, if any."""
        return next((d for d in self.departments if d.code == code), None)


@dataclass(frozen=True)
class Slot:
    """One bookable hour of one doctor on one day."""

    slot_id: str
    hospital: Hospital
    department: Department
    doctor: Doctor
    start: datetime  # aware, Beijing time
    end: datetime
    fee: int
    capacity: int


SlotNamer = Callable[[Hospital, Department, Doctor, datetime], str]


def beijing_time(moment: float | None) -> str | None:
    """An epoch time as ISO 8601 in Beijing time, to the second."""
    return None if moment is None else datetime.fromtimestamp(moment, BEIJING).isoformat(timespec="seconds")


def today() -> date:
    """The current date in Asia/Shanghai."""
    return datetime.now(BEIJING).date()


class Catalogue:
    """One system's hospitals and the slots of the seven days from today."""

    def __init__(self, hospitals: tuple[Hospital, ...], name_slot: SlotNamer) -> None:
        self.hospitals = hospitals
        self._name_slot = name_slot
        self._days: dict[date, dict[str, Slot]] = {}
        self._lock = threading.Lock()

    def hospital(self, code: str) -> Hospital | None:
        """The hospital with this code, if any."""
        return next((h for h in self.hospitals if h.code == code), None)

    def window(self) -> list[date]:
        """The dates that have a schedule: today and the six days after it."""
        first = today()
        return [first + timedelta(days=n) for n in range(WINDOW_DAYS)]

    def slots(self, hospital: Hospital, department: Department, day: date | None = None) -> list[Slot]:
        """The department's slots on day (or over the whole window) that have not started yet."""
        now = datetime.now(BEIJING)
        days = [d for d in self.window() if day is None or d == day]
        found = [
            slot
            for d in days
            for slot in self._day(d).values()
            if slot.hospital.code == hospital.code and slot.department.code == department.code
        ]
        return sorted((slot for slot in found if slot.start > now), key=lambda slot: (slot.start, slot.doctor.code))

    def slot(self, slot_id: str) -> Slot | None:
        """The slot with this id, in the window or seen before; None if there is none."""
        for day in self.window():
            found = self._day(day).get(slot_id)
            if found is not None:
                return found
        with self._lock:
            return next((d[slot_id] for d in self._days.values() if slot_id in d), None)

    def _day(self, day: date) -> dict[str, Slot]:
        with self._lock:
            known = self._days.get(day)
            if known is None:
                known = self._days[day] = {slot.slot_id: slot for slot in self._build(day)}
            return known

    def _build(self, day: date) -> list[Slot]:
        built = []
        for hospital in self.hospitals:
            for department in hospital.departments:
                for doctor in department.doctors:
                    terms = TITLES[doctor.title]
                    if day.isoweekday() not in terms.weekdays:
                        continue
                    for start_text in terms.starts:
                        start = datetime.combine(day, time.fromisoformat(start_text), BEIJING)
                        slot_id = self._name_slot(hospital, department, doctor, start)
                        built.append(
                            Slot(
                                slot_id,
                                hospital,
                                department,
                                doctor,
                                start,
                                start + timedelta(hours=1),
                                terms.fee,
                                terms.capacity,
                            )
                        )
        return built
