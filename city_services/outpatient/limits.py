"""Against scalping: one live hold or appointment per resident per department per day, and a weekly cap.

Both are checked under the resident's row lock, and a reservation row is written in the same
transaction before the platform is asked, so parallel requests cannot both pass.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Iterator
from datetime import date
from datetime import datetime
from datetime import timedelta

from sqlalchemy import ColumnElement
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.outpatient import models
from city_services.outpatient.models import Appointment
from city_services.outpatient.provider import Slot
from database import transaction
from errors import Conflict
from errors import TooManyRequests
from identity.allowances import Allowances
from identity.allowances import Mark
from identity.people import person_ids
from identity.residents import lock_live_resident

WEEK = timedelta(days=7)
# How long our reservation counts while the platform is asked: past any call's timeout and retries.
RESERVATION = timedelta(minutes=2)
# The kinds of use kept past a patient's erasure (identity/allowances.py): a live appointment counts in its
# week, and holds its department on its day until that day is over.
WEEK_USE = "outpatient.appointment"
DAY_USE = "outpatient.department_day"


def live(now: datetime) -> ColumnElement[bool]:
    """Rows that hold or may hold a place now."""
    return (Appointment.status == models.CONFIRMED) | (
        Appointment.status.in_((models.HOLDING, models.HELD)) & (Appointment.expires_at > now)
    )


def reserve(
    session: Session,
    resident_id: int,
    city: str,
    slot: Slot,
    channel: str,
    adapter: str,
    weekly_limit: int,
    now: datetime,
    *,
    kept: Allowances,
) -> str:
    """Check both limits under the resident's lock and write the reservation; its id is our order number."""
    with transaction(session):
        lock_live_resident(session, resident_id)
        everyone = person_ids(session, resident_id)
        subjects = kept.subjects(session, everyone)
        mine = (Appointment.resident_id.in_(everyone), live(now))
        same_day = session.scalar(
            select(func.count(Appointment.id)).where(
                *mine,
                Appointment.hospital_id == slot.hospital_id,
                Appointment.department_id == slot.department_id,
                Appointment.visit_date == slot.day,
            )
        )
        if same_day or kept.used(
            session,
            subjects,
            DAY_USE,
            after=now - WEEK - WEEK,
            now=now,
            scope=day_scope(slot.hospital_id, slot.department_id, slot.day),
        ):
            raise Conflict(
                "outpatient.one_per_department_per_day",
                "You already have an appointment in this department that day.",
                {"date": slot.day.isoformat()},
            )
        this_week = sorted(
            [
                *session.scalars(select(Appointment.created_at).where(*mine, Appointment.created_at > now - WEEK)),
                *kept.used(session, subjects, WEEK_USE, after=now - WEEK, now=now),
            ]
        )
        if len(this_week) >= weekly_limit:
            wait = this_week[len(this_week) - weekly_limit] + WEEK - now
            raise TooManyRequests(
                "outpatient.weekly_limit_reached",
                f"At most {weekly_limit} appointments in seven days.",
                retry_after=max(1, math.ceil(wait.total_seconds())),
                details={"limit": weekly_limit},
            )
        public_id = "ap" + secrets.token_hex(10)
        session.add(
            Appointment(
                public_id=public_id,
                resident_id=resident_id,
                city_code=city,
                channel=channel,
                adapter=adapter,
                hospital_id=slot.hospital_id,
                hospital_name=slot.hospital_name[:128],
                department_id=slot.department_id,
                department_name=slot.department_name[:128],
                slot_id=slot.slot_id,
                doctor=slot.doctor[:64],
                starts_at=slot.starts_at,
                ends_at=slot.ends_at,
                visit_date=slot.day,
                fee_fen=slot.fee_fen,
                status=models.HOLDING,
                expires_at=now + RESERVATION,
                created_at=now,
                updated_at=now,
            )
        )
    return public_id


def day_scope(hospital_id: str, department_id: str, day: date) -> str:
    """What the one-per-department-per-day rule is about."""
    return f"{hospital_id}\x1f{department_id}\x1f{day.isoformat()}"


def appointment_uses(session: Session, everyone: frozenset[int], now: datetime) -> Iterator[Mark]:
    """What still counts against a person's appointment limits: their live holds and appointments."""
    for row in session.scalars(select(Appointment).where(Appointment.resident_id.in_(everyone), live(now))):
        yield Mark(WEEK_USE, row.created_at, row.created_at + WEEK)
        # Until the visit day is over, wherever the hospital is: a day after its start covers every zone.
        yield Mark(
            DAY_USE,
            row.created_at,
            row.starts_at + timedelta(days=1),
            scope=day_scope(row.hospital_id, row.department_id, row.visit_date),
        )
