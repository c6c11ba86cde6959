"""What citytiles keeps about car moves: requests and their timelines, registered vehicles, owners' answers.

Plates and locations are sealed in the vault; a keyed lookup hash of the plate lets the per-plate
rule and the owner's list find rows without ever storing a plate in clear.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime


class CarMoveRequest(Base):
    """One resident asking the driver of one car to move it, and what happened since."""

    __tablename__ = "car_move_requests"
    __table_args__ = (
        Index("ix_car_move_requests_requester_created", "requester_id", "created_at"),
        Index("ix_car_move_requests_plate_created", "plate_lookup", "created_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the API shows; row ids and upstream numbers never leave the server.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    requester_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    # The registered owner told through the channel, if any (a resident id; never shown to the requester).
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True, index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    # The channel the requester came through, for the city's figures; None on requests made before it was kept.
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    adapter: Mapped[str] = mapped_column(String(64))
    # Ours, unique: a retried submit opens one ticket upstream.
    request_no: Mapped[str] = mapped_column(String(64), unique=True)
    upstream_ticket: Mapped[str | None] = mapped_column(String(80), nullable=True)
    # Blanked on erasure; the location (and message) also after seven days.
    plate_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    plate_lookup: Mapped[str | None] = mapped_column(String(64), nullable=True)
    location_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    message_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    status: Mapped[str] = mapped_column(String(16))
    # [{"event": ..., "at": ISO 8601}], oldest first.
    timeline: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    last_nudged_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class RegisteredVehicle(Base):
    """A plate a resident proved is theirs, so car-move requests about it reach them in their channel."""

    __tablename__ = "car_move_vehicles"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    plate_sealed: Mapped[str] = mapped_column(Text)
    # One owner per plate: a newer proven owner replaces an earlier one (the car was sold).
    plate_lookup: Mapped[str] = mapped_column(String(64), unique=True)
    checked_by: Mapped[str] = mapped_column(String(64))
    registered_at: Mapped[datetime] = mapped_column(UTCDateTime)


class OwnerAnswer(Base):
    """What the registered owner said about a request: moving, not_mine or complaint."""

    __tablename__ = "car_move_answers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_id: Mapped[int] = mapped_column(ForeignKey("car_move_requests.id"), unique=True)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True)
    answer: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class CarMoveRules(Base):
    """A city's anti-harassment limits, as its operators tuned them (defaults when absent)."""

    __tablename__ = "car_move_rules"

    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code"), primary_key=True)
    monthly_requests: Mapped[int] = mapped_column(Integer)
    plate_cooldown_minutes: Mapped[int] = mapped_column(Integer)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CarMoveLock(Base):
    """A row to lock per requester and per plate, so parallel requests check their limits one at a time."""

    __tablename__ = "car_move_locks"

    key: Mapped[str] = mapped_column(String(80), primary_key=True)


# model -> (column, vault purpose) of every sealed column, for re-sealing under a new key.
SEALED_COLUMNS: dict[Any, tuple[tuple[str, str], ...]] = {
    CarMoveRequest: (
        ("plate_sealed", "car_move.plate"),
        ("location_sealed", "car_move.location"),
        ("message_sealed", "car_move.message"),
    ),
    RegisteredVehicle: (("plate_sealed", "car_move.plate"),),
}
