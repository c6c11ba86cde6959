"""The anti-harassment limits (12123's rules): requests per requester per month, one live request per plate.

Both are checked under locks on a row per requester and a row per plate, taken in that order, so
parallel requests on any number of workers are counted one at a time.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.administration import require_city
from city_services.car_move.models import CarMoveLock
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.models import CarMoveRules
from database import transaction
from database.transaction import insert_or_skip
from errors import Forbidden
from errors import Invalid
from errors import TooManyRequests
from identity.allowances import Allowances
from identity.allowances import Mark
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise

SHANGHAI = ZoneInfo("Asia/Shanghai")
COMPLAINT_BLOCK = timedelta(days=30)
MONTHLY_REQUESTS = 5
PLATE_COOLDOWN_MINUTES = 10
# The status a request stops counting in: the system never took it. One being submitted counts.
NOT_COUNTED = ("failed",)
# Statuses in which a request is still live: someone may yet move the car.
LIVE = ("submitting", "awaiting_owner", "notified", "acknowledged")
# The kinds of use kept past a requester's erasure (identity/allowances.py), and how long each counts:
# a request for the rest of its month, a complaint for its block, a live request for the longest cooldown.
REQUEST_USE = "car_move.request"
COMPLAINT_USE = "car_move.complaint"
LIVE_USE = "car_move.live_request"
MONTH_AT_MOST = timedelta(days=32)
LONGEST_COOLDOWN = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)


@dataclass(frozen=True)
class Limits:
    """A city's limits as they apply now."""

    monthly_requests: int = MONTHLY_REQUESTS
    plate_cooldown: timedelta = timedelta(minutes=PLATE_COOLDOWN_MINUTES)


def limits_of(session: Session, city: str) -> Limits:
    """The city's tuned limits, or the defaults."""
    rules = session.get(CarMoveRules, city)
    if rules is None:
        return Limits()
    return Limits(rules.monthly_requests, timedelta(minutes=rules.plate_cooldown_minutes))


def lock(session: Session, key: str) -> None:
    """Take the lock row named key for this transaction, creating it the first time."""
    session.execute(insert_or_skip(session)(CarMoveLock).values(key=key).on_conflict_do_nothing())
    session.execute(select(CarMoveLock.key).where(CarMoveLock.key == key).with_for_update())


def requester_key(requester_id: int) -> str:
    """The lock row of one requester."""
    return f"requester:{requester_id}"


def plate_key(plate_lookup: str) -> str:
    """The lock row of one plate."""
    return f"plate:{plate_lookup}"


def check_limits(
    session: Session,
    limits: Limits,
    requester_ids: frozenset[int],
    plate_lookup: str,
    now: datetime,
    *,
    kept: Allowances,
) -> None:
    """Refuse with 429 when the requester's month is used up or the plate has a live request; call under the locks.

    The month counts the person's requests in every city (12123's rule is per person) against this city's limit,
    and what an erased account of theirs had used.
    """
    subjects = kept.subjects(session, requester_ids)
    month_start = now.astimezone(SHANGHAI).replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    used = session.scalar(
        select(func.count())
        .select_from(CarMoveRequest)
        .where(
            CarMoveRequest.requester_id.in_(requester_ids),
            CarMoveRequest.created_at >= month_start,
            CarMoveRequest.status.not_in(NOT_COUNTED),
        )
    )
    used = (used or 0) + len(kept.used(session, subjects, REQUEST_USE, after=month_start - MICROSECOND, now=now))
    if used >= limits.monthly_requests:
        next_month = (month_start + timedelta(days=32)).replace(day=1)
        raise TooManyRequests(
            "car_move.monthly_quota_exceeded",
            f"You have sent {limits.monthly_requests} car-move requests this month, the most allowed.",
            retry_after=_seconds(next_month - now),
        )
    complained = session.scalar(
        select(CarMoveRequest.id)
        .where(
            CarMoveRequest.requester_id.in_(requester_ids),
            CarMoveRequest.plate_lookup == plate_lookup,
            CarMoveRequest.status == "complaint",
            CarMoveRequest.created_at > now - COMPLAINT_BLOCK,
        )
        .limit(1)
    ) is not None or bool(
        kept.used(session, subjects, COMPLAINT_USE, after=now - COMPLAINT_BLOCK, now=now, scope=plate_lookup)
    )
    if complained:
        # 12123 blocks requesters owners complained about; here, for that car.
        raise Forbidden(
            "car_move.owner_complained",
            "This car's owner complained about an earlier request of yours; you cannot ask about it for now.",
        )
    latest = session.scalar(
        select(CarMoveRequest.created_at)
        .where(
            CarMoveRequest.plate_lookup == plate_lookup,
            CarMoveRequest.created_at > now - limits.plate_cooldown,
            CarMoveRequest.status.in_(LIVE),
        )
        .order_by(CarMoveRequest.created_at.desc())
        .limit(1)
    )
    asked = kept.used(session, kept.thing(plate_lookup), LIVE_USE, after=now - limits.plate_cooldown, now=now)
    latest = max([at for at in (latest, *asked) if at is not None], default=None)
    if latest is not None:
        raise TooManyRequests(
            "car_move.plate_cooling_down",
            "This car's driver was asked to move it a moment ago; please wait before asking again.",
            retry_after=_seconds(latest + limits.plate_cooldown - now),
        )


def car_move_uses(session: Session, everyone: frozenset[int], now: datetime) -> Iterator[Mark]:
    """What still counts against a person's car-move limits: this month's requests, complaints, live plates.

    A live request about the person's own car keeps its plate cooling down too: erasing an owner's plate
    must not open the car to a second request at once.
    """
    asked = CarMoveRequest.requester_id.in_(everyone)
    rows = session.execute(
        select(CarMoveRequest.created_at, CarMoveRequest.status, CarMoveRequest.plate_lookup, asked).where(
            asked | CarMoveRequest.owner_id.in_(everyone), CarMoveRequest.created_at > now - MONTH_AT_MOST
        )
    )
    for at, status, plate_lookup, by_them in rows:
        if by_them and status not in NOT_COUNTED:
            yield Mark(REQUEST_USE, at, at + MONTH_AT_MOST)
        if by_them and plate_lookup and status == "complaint":
            yield Mark(COMPLAINT_USE, at, at + COMPLAINT_BLOCK, scope=plate_lookup)
        if plate_lookup and status in LIVE:
            yield Mark(LIVE_USE, at, at + LONGEST_COOLDOWN, about=plate_lookup)


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


def change_limits(
    session: Session, staff: StaffMember, city: str, limits: Limits, reason: str, *, now: datetime
) -> Limits:
    """An operator tunes a city's limits; audited with the reason, in one transaction."""
    authorise(staff, "catalogue.change", city=city)
    problem = reason_problem(reason)
    if problem:
        raise Invalid("catalogue.reason_required", problem)
    with transaction(session):
        require_city(session, city)
        rules = session.scalar(select(CarMoveRules).where(CarMoveRules.city_code == city).with_for_update())
        before = describe_limits(limits_of(session, city))
        if rules is None:
            rules = CarMoveRules(city_code=city)
            session.add(rules)
        rules.monthly_requests = limits.monthly_requests
        rules.plate_cooldown_minutes = int(limits.plate_cooldown.total_seconds() // 60)
        rules.updated_at = now
        record_staff_action(
            session,
            staff,
            action="car_move.limits_changed",
            target=f"{city}/car_move",
            reason=reason.strip(),
            at=now,
            before=before,
            after=describe_limits(limits),
            city_code=city,
        )
    return limits


def describe_limits(limits: Limits) -> dict[str, int]:
    """Limits as operators and the audit log see them."""
    return {
        "monthly_requests": limits.monthly_requests,
        "plate_cooldown_minutes": int(limits.plate_cooldown.total_seconds() // 60),
    }
