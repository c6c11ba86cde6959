"""Reading the figures of a city over a period, per service × channel, for its operators."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.refund_totals import RefundTotal
from billing.refund_totals import settled_refunds
from city_services.administration import require_city
from city_services.availability import CITY_TIME
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.models import OwnerAnswer
from city_services.figures.models import ALL_SERVICES
from city_services.figures.models import COUNTERS
from city_services.figures.models import LATENCY_BOUNDS_MS
from city_services.figures.models import LATENCY_COLUMNS
from city_services.figures.models import HourlyFigure
from city_services.models import CHANNELS
from city_services.models import Offering
from errors import Invalid
from identity.models import StaffMember
from identity.roles import authorise
from identity.roles import visible_channels

DEFAULT_DAYS = 7
MOST_DAYS = 92
# Calls slower than the last bound have no upper bound of their own; they are reported at gunicorn's
# worker timeout (30 s), which no request outlives.
SLOWEST_MS = 30_000
CAR_MOVE = "car_move"
NO_REFUNDS = RefundTotal(0, 0)


@dataclass(frozen=True)
class Period:
    """Whole days in China time, first and last included, and the moments they begin and end."""

    first: date
    last: date
    since: datetime
    until: datetime


@dataclass(frozen=True)
class FigureRow:
    """One service on one channel over a period; service "*" is the city's tile list on that channel."""

    service: str
    channel: str
    tile_visits: int
    requests: int
    succeeded: int
    # succeeded / requests, None without requests.
    success_rate: float | None
    # The upper bound of the latency bucket the median falls in (see median_latency_ms), None without requests.
    median_latency_ms: int | None
    refunds: int
    refunded_fen: int
    car_move_complaints: int


def period_of(first: date | None, last: date | None, today: date) -> Period:
    """The days asked for: the last seven up to today by default; refuse a period backwards or over 92 days."""
    last = last or (first + timedelta(days=DEFAULT_DAYS - 1) if first else today)
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if last < first:
        raise Invalid("figures.invalid_period", "The first day comes after the last.", {"from": str(first)})
    if (last - first).days + 1 > MOST_DAYS:
        raise Invalid(
            "figures.invalid_period", f"Ask for at most {MOST_DAYS} days at a time.", {"most_days": MOST_DAYS}
        )
    since = datetime.combine(first, time(), tzinfo=CITY_TIME)
    until = datetime.combine(last + timedelta(days=1), time(), tzinfo=CITY_TIME)
    return Period(first, last, since, until)


def median_latency_ms(buckets: list[int]) -> int | None:
    """The upper bound (ms) of the latency bucket the median call falls in: an estimate from summed buckets."""
    total = sum(buckets)
    if not total:
        return None
    seen = 0
    for bound, count in zip((*LATENCY_BOUNDS_MS, SLOWEST_MS), buckets, strict=True):
        seen += count
        if seen * 2 >= total:
            return bound
    raise AssertionError("unreachable: the buckets add up to the total")


def figures(session: Session, staff: StaffMember, city: str, since: datetime, until: datetime) -> list[FigureRow]:
    """The city's figures per service × channel the staff member may see: offered ones, and any with figures."""
    authorise(staff, "catalogue.view", city=city)
    require_city(session, city)
    channels = visible_channels(staff, CHANNELS)
    counted = _counted(session, city, channels, since, until)
    refunds = settled_refunds(session, city, since, until)
    complaints = _complaints(session, city, since, until)
    offered = session.execute(
        select(Offering.service_code, Offering.channel).where(
            Offering.city_code == city, Offering.channel.in_(channels)
        )
    )
    keys: set[tuple[str, str]] = {(service, channel) for service, channel in offered}
    keys |= {*counted, *((ALL_SERVICES, channel) for channel in channels)}
    keys |= {key for key in (*refunds, *complaints) if key[1] in channels}
    return [_row(key, counted, refunds, complaints) for key in sorted(keys, key=_in_display_order)]


def _counted(
    session: Session, city: str, channels: tuple[str, ...], since: datetime, until: datetime
) -> dict[tuple[str, str], list[int]]:
    """Every counter summed over the period's hours, per (service, channel)."""
    sums = [func.sum(getattr(HourlyFigure, name)) for name in COUNTERS]
    rows = session.execute(
        select(HourlyFigure.service_code, HourlyFigure.channel, *sums)
        .where(
            HourlyFigure.city_code == city,
            HourlyFigure.channel.in_(channels),
            HourlyFigure.hour >= since,
            HourlyFigure.hour < until,
        )
        .group_by(HourlyFigure.service_code, HourlyFigure.channel)
    )
    return {(row[0], row[1]): [int(value or 0) for value in row[2:]] for row in rows}


def _complaints(session: Session, city: str, since: datetime, until: datetime) -> dict[tuple[str, str], int]:
    """Owners' complaints about car-move requests made in the city, answered in the period, per requester's channel.

    Requests made before their channel was kept (migration 0015) have none, and are left out.
    """
    rows = session.execute(
        select(CarMoveRequest.channel, func.count(OwnerAnswer.id))
        .join(CarMoveRequest, OwnerAnswer.request_id == CarMoveRequest.id)
        .where(
            CarMoveRequest.city_code == city,
            CarMoveRequest.channel.is_not(None),
            OwnerAnswer.answer == "complaint",
            OwnerAnswer.at >= since,
            OwnerAnswer.at < until,
        )
        .group_by(CarMoveRequest.channel)
    )
    return {(CAR_MOVE, str(channel)): count for channel, count in rows}


def _row(
    key: tuple[str, str],
    counted: dict[tuple[str, str], list[int]],
    refunds: dict[tuple[str, str], RefundTotal],
    complaints: dict[tuple[str, str], int],
) -> FigureRow:
    counts = dict(zip(COUNTERS, counted.get(key, [0] * len(COUNTERS)), strict=True))
    requests, succeeded = counts["requests"], counts["succeeded"]
    refunded = refunds.get(key, NO_REFUNDS)
    return FigureRow(
        service=key[0],
        channel=key[1],
        tile_visits=counts["tile_visits"],
        requests=requests,
        succeeded=succeeded,
        success_rate=succeeded / requests if requests else None,
        median_latency_ms=median_latency_ms([counts[name] for name in LATENCY_COLUMNS]),
        refunds=refunded.count,
        refunded_fen=refunded.fen,
        car_move_complaints=complaints.get(key, 0),
    )


def _in_display_order(key: tuple[str, str]) -> tuple[bool, str, int]:
    """The tile list first, then services by code, each with WeChat before Alipay."""
    service, channel = key
    return (service != ALL_SERVICES, service, CHANNELS.index(channel) if channel in CHANNELS else len(CHANNELS))
