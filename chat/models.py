"""What citytiles keeps of chat: each message once (its channel's id is the key), followers' state, account menus.

Replies hold balances and request numbers, followers' rows hold a location and a plate: all sealed
in the vault, and erased with the resident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime

# A message's states: taken in, answered (reply ready), replied passively, deferred (the channel
# got "success" and the reply goes as a customer-service message), sent that way, or not sendable.
RECEIVED, ANSWERED, REPLIED, DEFERRED, SENT, UNSENT = "received", "answered", "replied", "deferred", "sent", "unsent"
STATES = (RECEIVED, ANSWERED, REPLIED, DEFERRED, SENT, UNSENT)


class ChatMessage(Base):
    """One message or event a follower sent, however many times the channel delivered it."""

    __tablename__ = "chat_messages"
    __table_args__ = (UniqueConstraint("channel", "app_id", "dedup_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(32))
    # MsgId for messages; the sender and CreateTime for events (WeChat's own rule for retries).
    dedup_key: Mapped[str] = mapped_column(String(160))
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True, index=True)
    intent: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    state: Mapped[str] = mapped_column(String(16))
    # What the message asks to be done, decided when it was taken in (a plate, a location): sealed JSON.
    work_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    reply_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatFollower(Base):
    """A follower of one account: the resident they are, their last location, a plate waiting for one."""

    __tablename__ = "chat_followers"
    __table_args__ = (UniqueConstraint("channel", "app_id", "user_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(32))
    user_id: Mapped[str] = mapped_column(String(128))
    resident_id: Mapped[int] = mapped_column(ForeignKey("residents.id"), index=True)
    location_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    located_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    plate_sealed: Mapped[str | None] = mapped_column(Text, nullable=True)
    plate_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class ChatMenu(Base):
    """An account's menu and keywords as its city's operators set them (else the defaults)."""

    __tablename__ = "chat_menus"

    app_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # [{key, name, intent}], in the order the menu shows them.
    menu: Mapped[list[dict[str, Any]]] = mapped_column(JSONDocument, default=list)
    # word -> intent, on top of the built-in keywords.
    keywords: Mapped[dict[str, str]] = mapped_column(JSONDocument, default=dict)
    updated_by: Mapped[str] = mapped_column(String(64))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
