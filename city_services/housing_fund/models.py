"""What citytiles keeps about fund lookups: the data-access log, and answers kept briefly, sealed."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import UTCDateTime


class FundLookup(Base):
    """One lookup of a resident's fund data at a centre: the resident's own data-access record.

    Erasing the resident erases these rows: the log is kept for the resident to see, and has no
    other reader.
    """

    __tablename__ = "housing_fund_lookups"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    lookup: Mapped[str] = mapped_column(String(16))  # account, records or loan
    channel: Mapped[str] = mapped_column(String(16))
    upstream: Mapped[str] = mapped_column(String(64))  # the adapter's name
    outcome: Mapped[str] = mapped_column(String(64))  # "ok" or the error code answered
    from_cache: Mapped[bool] = mapped_column(Boolean, default=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


class FundAnswer(Base):
    """A centre's answer kept a few minutes, sealed, so paging back and forth does not ask the centre again."""

    __tablename__ = "housing_fund_answers"

    # A keyed hash of city, the person's lookup hash, what was asked and the cursor: guessing it needs the vault.
    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    resident_id: Mapped[int] = mapped_column(Integer, index=True)
    answer_sealed: Mapped[str] = mapped_column(Text)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
