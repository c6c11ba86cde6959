"""Against scalping: one live hold or appointment per resident per department per day, and a weekly cap.

Both are checked under the resident's row lock, and a reservation row is written in the same
transaction before the platform is asked, so parallel requests cannot both pass.
"""

from __future__ import annotations

import math
import secrets
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
from identity.people import person_ids
from identity.residents import lock_live_resident

WEEK = timedelta(days=7)
# How long our reservation counts while the platform is asked: past any call's timeout and retries.
RESERVATION = timedelta(minutes=2)


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
) -> str:
    """Check both limits under the resident's lock and write the reservation; its id is our order number."""
    with transaction(session):
        lock_live_resident(session, resident_id)
        everyone = person_ids(session, resident_id)
        mine = (Appointment.resident_id.in_(everyone), live(now))
        same_day = session.scalar(
            select(func.count(Appointment.id)).where(
                *mine,
                Appointment.hospital_id == slot.hospital_id,
                Appointment.department_id == slot.department_id,
                Appointment.visit_date == slot.day,
            )
        )
        if same_day:
            raise Conflict(
                "outpatient.one_per_department_per_day",
                "You already have an appointment in this department that day.",
                {"date": slot.day.isoformat()},
            )
        this_week = list(
            session.scalars(
                select(Appointment.created_at)
                .where(*mine, Appointment.created_at > now - WEEK)
                .order_by(Appointment.created_at)
            )
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
