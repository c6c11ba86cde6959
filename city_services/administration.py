"""Operators' view and changes of the catalogue, each change audited and visible to residents at once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.catalogue import bump_revision
from city_services.models import CHANNELS
from city_services.models import City
from city_services.models import MaintenanceWindow
from city_services.models import Offering
from city_services.offering_rules import MAX_WINDOWS
from city_services.offering_rules import check_channel
from city_services.offering_rules import check_hours
from city_services.offering_rules import check_window
from city_services.offering_rules import normalise_weekdays
from database import transaction
from errors import Invalid
from errors import NotFound
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise
from identity.roles import visible_channels


@dataclass(frozen=True)
class HoursChange:
    """New opening hours; no times means around the clock."""

    opens_at: str | None
    closes_at: str | None
    weekdays: str


@dataclass(frozen=True)
class WindowChange:
    """One maintenance window as an operator sets it."""

    starts_at: datetime
    ends_at: datetime
    message_zh: str
    message_en: str | None = None


@dataclass(frozen=True)
class OfferingChange:
    """What an operator changes on one offering; None leaves a setting as it is."""

    reason: str
    enabled: bool | None = None
    hours: HoursChange | None = None
    maintenance_windows: tuple[WindowChange, ...] | None = None


def city_catalogue(session: Session, staff: StaffMember, city: str) -> Sequence[Offering]:
    """Every offering of a city the staff member may see, by service and channel."""
    authorise(staff, "catalogue.view", city=city)
    require_city(session, city)
    channels = visible_channels(staff, CHANNELS)
    query = (
        select(Offering)
        .where(Offering.city_code == city, Offering.channel.in_(channels))
        .order_by(Offering.service_code, Offering.channel)
    )
    return session.scalars(query).all()


def change_offering(
    session: Session,
    staff: StaffMember,
    *,
    city: str,
    service: str,
    channel: str,
    change: OfferingChange,
    now: datetime,
) -> Offering:
    """Apply an operator's change to one city × service × channel, with its audit entry, atomically."""
    check_channel(channel)
    authorise(staff, "catalogue.change", city=city, channel=channel)
    problem = reason_problem(change.reason)
    if problem:
        raise Invalid("catalogue.reason_required", problem)
    with transaction(session):
        require_city(session, city)
        offering = session.scalar(
            select(Offering)
            .where(Offering.city_code == city, Offering.service_code == service, Offering.channel == channel)
            .with_for_update(of=Offering)
        )
        if offering is None:
            raise NotFound(
                "catalogue.offering_not_found",
                f"City {city} has no {service} offering on {channel}.",
                {"city": city, "service": service, "channel": channel},
            )
        before = describe_offering(offering)
        _apply(offering, change, now=now)
        after = describe_offering(offering)
        if after != before:
            offering.updated_at = now
            record_staff_action(
                session,
                staff,
                action="catalogue.offering_changed",
                target=f"{city}/{service}/{channel}",
                reason=change.reason.strip(),
                at=now,
                before=before,
                after=after,
                city_code=city,
                channel=channel,
            )
            bump_revision(session)
    return offering


def visible_cities(session: Session, staff: StaffMember) -> Sequence[City]:
    """The cities whose catalogue a staff member may see: a city operator's own, every city for the others."""
    authorise(staff, "catalogue.view")
    query = select(City).order_by(City.display_order, City.code)
    if staff.role == "city_operator":
        query = query.where(City.code.in_(staff.cities))
    return session.scalars(query).all()


def served_cities(session: Session) -> frozenset[str]:
    """The codes of every city citytiles serves, for checking staff scopes against."""
    return frozenset(session.scalars(select(City.code)))


def describe_offering(offering: Offering) -> dict[str, Any]:
    """An offering's settings as plain data, for the admin API and the audit log."""
    return {
        "city": offering.city_code,
        "service": offering.service_code,
        "channel": offering.channel,
        "enabled": offering.enabled,
        "hours": {"opens_at": offering.opens_at, "closes_at": offering.closes_at, "weekdays": offering.open_weekdays},
        "maintenance_windows": [
            {
                "starts_at": w.starts_at.astimezone(UTC).isoformat(),
                "ends_at": w.ends_at.astimezone(UTC).isoformat(),
                "message_zh": w.message_zh,
                "message_en": w.message_en,
            }
            for w in offering.maintenance_windows
        ],
    }


def _apply(offering: Offering, change: OfferingChange, *, now: datetime) -> None:
    """Check every part of the change first, then write it, so a bad part changes nothing."""
    if change.hours is not None:
        check_hours(change.hours.opens_at, change.hours.closes_at, change.hours.weekdays)
    if change.maintenance_windows is not None:
        if len(change.maintenance_windows) > MAX_WINDOWS:
            raise Invalid("catalogue.too_many_windows", f"At most {MAX_WINDOWS} maintenance windows.")
        for window in change.maintenance_windows:
            check_window(window.starts_at, window.ends_at, window.message_zh, window.message_en, now=now)
    if change.enabled is not None:
        offering.enabled = change.enabled
    if change.hours is not None:
        offering.opens_at = change.hours.opens_at
        offering.closes_at = change.hours.closes_at
        offering.open_weekdays = normalise_weekdays(change.hours.weekdays)
    if change.maintenance_windows is not None:
        offering.maintenance_windows = [
            MaintenanceWindow(
                starts_at=w.starts_at, ends_at=w.ends_at, message_zh=w.message_zh, message_en=w.message_en
            )
            for w in sorted(change.maintenance_windows, key=lambda w: w.starts_at)
        ]


def require_city(session: Session, city: str) -> None:
    """NotFound unless citytiles serves the city."""
    if session.get(City, city) is None:
        raise NotFound("catalogue.city_not_found", f"citytiles does not serve city {city}.", {"city": city})
