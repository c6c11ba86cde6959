"""The hourly figures table: one row per hour × city × service × channel, counters only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import UTCDateTime

# The upper bound of each latency bucket, in milliseconds; a last bucket takes everything slower.
LATENCY_BOUNDS_MS = (50, 100, 200, 500, 1000, 2000, 5000)
LATENCY_COLUMNS = (*(f"latency_le_{bound}" for bound in LATENCY_BOUNDS_MS), "latency_over_5000")
COUNTERS = ("tile_visits", "requests", "succeeded", *LATENCY_COLUMNS)
# A tile visit is a view of a city's whole tile list on a channel, not of one service.
ALL_SERVICES = "*"


class HourlyFigure(Base):
    """What residents did with one city's service on one channel during one hour (UTC, on the hour)."""

    __tablename__ = "service_figures_hourly"

    hour: Mapped[datetime] = mapped_column(UTCDateTime, primary_key=True)
    city_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    service_code: Mapped[str] = mapped_column(String(32), primary_key=True)
    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    tile_visits: Mapped[int] = mapped_column(Integer, default=0)
    requests: Mapped[int] = mapped_column(Integer, default=0)
    succeeded: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_50: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_100: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_200: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_500: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_1000: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_2000: Mapped[int] = mapped_column(Integer, default=0)
    latency_le_5000: Mapped[int] = mapped_column(Integer, default=0)
    latency_over_5000: Mapped[int] = mapped_column(Integer, default=0)
