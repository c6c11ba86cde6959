"""What citytiles keeps of an outpatient appointment: the slot, its fee, the platform's hold, and its state.

No patient data is kept here: the hospital has the name and ID number; we keep whose appointment it is.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime

from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import UTCDateTime

# holding: our reservation while the platform is being asked (counts against the limits, never shown);
# held: the platform keeps the place until expires_at (a paid slot waits for payment);
# confirmed: booked for good; cancelled and expired: the place is back.
HOLDING, HELD, CONFIRMED, CANCELLED, EXPIRED = "holding", "held", "confirmed", "cancelled", "expired"
STATUSES = (HOLDING, HELD, CONFIRMED, CANCELLED, EXPIRED)
LIVE = (HOLDING, HELD, CONFIRMED)


class Appointment(Base):
    """One resident's hold or booking of one slot at a city's hospital platform."""

    __tablename__ = "appointments"
    __table_args__ = (
        CheckConstraint(f"status IN {STATUSES}", name="status_known"),
        CheckConstraint("fee_fen >= 0", name="fee_not_negative"),
        Index("ix_appointments_resident_visit", "resident_id", "visit_date"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the resident and the platform (as our order number) know it by.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    channel: Mapped[str] = mapped_column(String(16))
    # The adapter that holds it, so a later change of connection does not lose which system to ask.
    adapter: Mapped[str] = mapped_column(String(64))
    hospital_id: Mapped[str] = mapped_column(String(64))
    hospital_name: Mapped[str] = mapped_column(String(128))
    department_id: Mapped[str] = mapped_column(String(64))
    department_name: Mapped[str] = mapped_column(String(128))
    slot_id: Mapped[str] = mapped_column(String(64))
    doctor: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    # The visit's day in Beijing time: one live appointment per department per day.
    visit_date: Mapped[date] = mapped_column(Date)
    fee_fen: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    upstream_hold_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # Until when the platform keeps a held place (or our reservation counts); None once confirmed.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
