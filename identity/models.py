"""Staff accounts, access tokens and the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean
from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy import text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column
from sqlalchemy.orm import relationship

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
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class AttemptCount(Base):
    """Attempts counted against one abuse-limit key in its current window (identity.attempt_counts).

    Keys are keyed digests, never usernames or addresses; rows whose window has ended are purged.
    """

    __tablename__ = "attempt_counts"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    # The digest of the limit and subject alone, to clear a username's counts from every address.
    subject: Mapped[str] = mapped_column(String(64), index=True)
    attempts: Mapped[int] = mapped_column(Integer)
    window_ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class AccessToken(Base):
    """A bearer token we issued; only its SHA-256 is stored, so a database leak reveals no token."""

    __tablename__ = "access_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True, index=True)
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True, index=True)
    # The channel app a resident logged in through; real-name checks go back to that channel.
    channel_identity_id: Mapped[int | None] = mapped_column(
        ForeignKey("channel_identities.id", ondelete="SET NULL"), nullable=True
    )
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
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


class Resident(Base):
    """A person using city services, whichever channels and apps they come through.

    Personal data is held only as vault ciphertexts plus keyed lookup hashes; `public_id` is what
    the API shows, so row ids and channel ids never leave the server.
    """

    __tablename__ = "residents"
    __table_args__ = (
        # One live resident per verified ID number; merged and erased residents drop their lookup.
        Index(
            "uq_residents_id_number_lookup",
            "id_number_lookup",
            unique=True,
            postgresql_where=text("id_number_lookup IS NOT NULL"),
            sqlite_where=text("id_number_lookup IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    real_name_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_number_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    id_number_lookup: Mapped[str | None] = mapped_column(String(64), nullable=True)
    phone_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    phone_lookup: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    # none, or channel_certified: the channel's own certified identity matched what the resident gave.
    assurance_level: Mapped[str] = mapped_column(String(32), default="none")
    real_name_verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    real_name_verified_by: Mapped[str | None] = mapped_column(String(64), nullable=True)
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    identities: Mapped[list[ChannelIdentity]] = relationship(back_populates="resident", lazy="selectin")


class ChannelIdentity(Base):
    """One account of a resident in one channel app: a WeChat openid or an Alipay open_id/user_id."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "app_id", "external_id"),
        Index("ix_channel_identities_channel_unionid", "channel", "unionid"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(32))
    external_id: Mapped[str] = mapped_column(String(128))
    # WeChat unionid, or Alipay user_id: the same person across the channel's apps.
    unionid: Mapped[str | None] = mapped_column(String(128), nullable=True)
    # WeChat session_key or Alipay auth token: sealed, and never sent to any client.
    channel_secret_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_login_at: Mapped[datetime] = mapped_column(UTCDateTime)

    resident: Mapped[Resident] = relationship(back_populates="identities")


class ChannelUnion(Base):
    """The resident a channel-wide id belongs to (WeChat unionid, Alipay user_id).

    Its primary key makes two first logins of one person through two apps agree on one resident.
    """

    __tablename__ = "channel_unions"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    unionid: Mapped[str] = mapped_column(String(128), primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)

    resident: Mapped[Resident] = relationship()


class ConsentRecord(Base):
    """A resident's consent to one purpose, under one version of the text they were shown."""

    __tablename__ = "consent_records"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(64))
    text_version: Mapped[str] = mapped_column(String(64))
    given_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ResidentMerge(Base):
    """The record of two residents found to be one person, and what moved from one to the other."""

    __tablename__ = "resident_merges"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    survivor_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    merged_id: Mapped[int] = mapped_column(ForeignKey("residents.id"))
    reason: Mapped[str] = mapped_column(String(64))
    moved: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    at: Mapped[datetime] = mapped_column(UTCDateTime)


class AllowanceMark(Base):
    """One use of an allowance by an erased person, kept under a keyed hash so erasing resets no limit."""

    __tablename__ = "allowance_marks"
    __table_args__ = (Index("ix_allowance_marks_subject_kind", "subject", "kind", "scope"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # A keyed hash of a channel account, of a verified ID number's lookup, or of a thing (a plate).
    subject: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(48))
    # A keyed hash of what the use was about (a plate, a department on a day), or empty.
    scope: Mapped[str] = mapped_column(String(64), default="")
    # One use kept under several subjects counts once.
    event: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    until: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
