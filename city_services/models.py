"""The catalogue: cities, services, and each city × service × channel offering."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime

CHANNELS = ("wechat", "alipay")


class City(Base):
    """A city served, keyed by its 6-digit administrative division code."""

    __tablename__ = "cities"
    __table_args__ = (CheckConstraint("length(code) = 6", name="code_is_division_code"),)

    code: Mapped[str] = mapped_column(String(6), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class Service(Base):
    """A kind of city service, the same in every city that offers it."""

    __tablename__ = "services"

    code: Mapped[str] = mapped_column(String(32), primary_key=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    category: Mapped[str] = mapped_column(String(32))
    icon: Mapped[str] = mapped_column(String(64))
    display_order: Mapped[int] = mapped_column(Integer, default=0)


class Offering(Base):
    """One service in one city on one channel: whether it is on and when; its upstream is the city × service's."""

    __tablename__ = "offerings"
    __table_args__ = (
        UniqueConstraint("city_code", "service_code", "channel"),
        CheckConstraint("channel in ('wechat', 'alipay')", name="channel_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code"), index=True)
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    channel: Mapped[str] = mapped_column(String(16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    # Local (Asia/Shanghai) opening hours; null opens_at means around the clock.
    opens_at: Mapped[str | None] = mapped_column(String(5), nullable=True)
    closes_at: Mapped[str | None] = mapped_column(String(5), nullable=True)
    # ISO weekdays the service is open on, "12345" for Monday to Friday.
    open_weekdays: Mapped[str] = mapped_column(String(7), default="1234567")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    service: Mapped[Service] = relationship(lazy="joined")
    maintenance_windows: Mapped[list[MaintenanceWindow]] = relationship(
        back_populates="offering",
        cascade="all, delete-orphan",
        order_by="MaintenanceWindow.starts_at",
        lazy="selectin",
    )


class UpstreamConnection(Base):
    """What one city's service talks to, whichever channel a resident comes through.

    One row per city × service: breakers, bulkheads and health figures are keyed by it, so a
    city's provident fund centre has one breaker however many channels reach it.
    """

    __tablename__ = "upstream_connections"
    __table_args__ = (UniqueConstraint("city_code", "service_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    city_code: Mapped[str] = mapped_column(ForeignKey("cities.code"))
    service_code: Mapped[str] = mapped_column(ForeignKey("services.code"))
    # A name in city_services/upstreams.py, and parameters its Params reads (checked on every write).
    adapter: Mapped[str] = mapped_column(String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class MaintenanceWindow(Base):
    """A planned stop of one offering, with what residents are told meanwhile."""

    __tablename__ = "maintenance_windows"
    __table_args__ = (CheckConstraint("ends_at > starts_at", name="ends_after_start"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    offering_id: Mapped[int] = mapped_column(ForeignKey("offerings.id", ondelete="CASCADE"), index=True)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    message_zh: Mapped[str] = mapped_column(Text)
    message_en: Mapped[str | None] = mapped_column(Text, nullable=True)

    offering: Mapped[Offering] = relationship(back_populates="maintenance_windows")


class CatalogueRevision(Base):
    """A single counter bumped in the same transaction as every catalogue change.

    Every worker process compares it with the revision its cache was built from, so an
    operator's change is visible everywhere at once without a message bus.
    """

    __tablename__ = "catalogue_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)


class NoticeCredit(Base):
    """One-time notice subscriptions a resident accepted in one channel app for one notice, not yet spent.

    WeChat and Alipay let a mini-program send a subscribe notice only against an "allow" the user
    tapped; each allow pays for one notice. The channel keeps its own count: ours decides whom to
    try, and a channel's refusal (43101, USER_NOT_SUBSCRIBED) resets ours to zero.
    """

    __tablename__ = "notice_credits"
    __table_args__ = (
        UniqueConstraint("resident_id", "app_id", "notice"),
        CheckConstraint("credits >= 0", name="credits_not_negative"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(32))
    notice: Mapped[str] = mapped_column(String(64))
    credits: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NoticeRecord(Base):
    """Every notice citytiles tried to send and what became of it; never what it said."""

    __tablename__ = "notice_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    notice: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    app_id: Mapped[str | None] = mapped_column(String(32), nullable=True)
    # sent, no_credit (nobody to send it to), refused (the channel said no), unavailable (no answer)
    outcome: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64), nullable=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
