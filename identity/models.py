"""Staff accounts, access tokens and the audit log."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime

ROLES = ("platform_admin", "city_operator", "channel_admin")


class StaffMember(Base):
    """A person who runs citytiles: a platform admin, a city operator or a channel admin."""

    __tablename__ = "staff_members"
    __table_args__ = (
        CheckConstraint("role in ('platform_admin', 'city_operator', 'channel_admin')", name="role_known"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(128))
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(32))
    # The scope of a city operator (division codes) or a channel admin (channel names).
    cities: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    channels: Mapped[list[str]] = mapped_column(JSONDocument, default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AccessToken(Base):
    """A bearer token we issued; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True, index=True)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class AuditEntry(Base):
    """One staff action: who did what to which thing, the state before and after, when and why."""

    __tablename__ = "audit_entries"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    actor_id: Mapped[int] = mapped_column(ForeignKey("staff_members.id"))
    actor_username: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(128))
    city_code: Mapped[str | None] = mapped_column(String(6), nullable=True, index=True)
    channel: Mapped[str | None] = mapped_column(String(16), nullable=True)
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    reason: Mapped[str] = mapped_column(Text)
