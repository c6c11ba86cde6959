"""The catalogue as residents see it: cities and their tiles, served from a per-process cache."""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from datetime import datetime
from datetime import time

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from city_services.availability import Availability
from city_services.availability import Hours
from city_services.availability import Window
from city_services.availability import availability
from city_services.models import CatalogueRevision
from city_services.models import City
from city_services.models import Offering
from city_services.offering_rules import check_hours
from errors import Invalid
from errors import NotFound

log = logging.getLogger("citytiles.catalogue")
_AROUND_THE_CLOCK = Hours(opens_at=None, closes_at=None, weekdays=frozenset(range(1, 8)))


@dataclass(frozen=True)
class CityEntry:
    """A city served."""

    code: str
    name: dict[str, str]


@dataclass(frozen=True)
class TileEntry:
    """One offering, as stored, frozen for sharing between threads."""

    code: str
    name: dict[str, str]
    category: str
    icon: str
    enabled: bool
    hours: Hours
    windows: tuple[Window, ...]


@dataclass(frozen=True)
class Tile:
    """A tile as a resident sees it at one moment."""

    code: str
    name: dict[str, str]
    category: str
    icon: str
    availability: Availability


@dataclass(frozen=True)
class CatalogueSnapshot:
    """Everything residents can see of the catalogue at one revision."""

    revision: int
    cities: tuple[CityEntry, ...]
    tiles: dict[tuple[str, str], tuple[TileEntry, ...]]

    def city(self, code: str) -> CityEntry:
        """The city with this code, or NotFound."""
        for city in self.cities:
            if city.code == code:
                return city
        raise NotFound("catalogue.city_not_found", f"citytiles does not serve city {code}.", {"city": code})


class CatalogueCache:
    """A per-process copy of the catalogue, rebuilt as soon as the stored revision moves."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._snapshot: CatalogueSnapshot | None = None

    def snapshot(self, session: Session) -> CatalogueSnapshot:
        """The catalogue at the latest committed revision, loaded at most once per revision."""
        revision = current_revision(session)
        cached = self._snapshot
        if cached is not None and cached.revision == revision:
            return cached
        with self._lock:
            cached = self._snapshot
            if cached is None or cached.revision != revision:
                # Read after the revision: rows are at least that new, so a newer label only costs a reload.
                cached = load_snapshot(session, revision)
                self._snapshot = cached
        return cached


def current_revision(session: Session) -> int:
    """The catalogue revision last committed."""
    return session.scalar(select(CatalogueRevision.revision).where(CatalogueRevision.id == 1)) or 0


def bump_revision(session: Session) -> None:
    """Mark the catalogue changed, inside the caller's transaction, so caches reload when it commits."""
    bumped = session.execute(
        update(CatalogueRevision).where(CatalogueRevision.id == 1).values(revision=CatalogueRevision.revision + 1)
    )
    if bumped.rowcount == 0:  # type: ignore[attr-defined]
        session.add(CatalogueRevision(id=1, revision=1))


def load_snapshot(session: Session, revision: int) -> CatalogueSnapshot:
    """Read the whole catalogue in two queries; an offering whose stored hours cannot be read shows as unavailable."""
    cities = session.scalars(select(City).order_by(City.display_order, City.code)).all()
    offerings = session.scalars(select(Offering)).all()
    tiles: dict[tuple[str, str], list[tuple[int, TileEntry]]] = {}
    for offering in offerings:
        service = offering.service
        enabled, hours = offering.enabled, readable_hours(offering)
        windows = tuple(
            Window(w.starts_at, w.ends_at, w.message_zh, w.message_en) for w in offering.maintenance_windows
        )
        if hours is None:
            # One broken row must not take down the other tiles or other cities: it shows as switched off.
            enabled, hours, windows = False, _AROUND_THE_CLOCK, ()
        entry = TileEntry(
            code=service.code,
            name={"zh-CN": service.name_zh, "en": service.name_en},
            category=service.category,
            icon=service.icon,
            enabled=enabled,
            hours=hours,
            windows=windows,
        )
        tiles.setdefault((offering.city_code, offering.channel), []).append((service.display_order, entry))
    return CatalogueSnapshot(
        revision=revision,
        cities=tuple(CityEntry(c.code, {"zh-CN": c.name_zh, "en": c.name_en}) for c in cities),
        tiles={key: tuple(e for _, e in sorted(rows, key=lambda r: (r[0], r[1].code))) for key, rows in tiles.items()},
    )


def hours_of(offering: Offering) -> Hours:
    """An offering's stored hours as a value; Invalid when they break the rules every writer is held to."""
    check_hours(offering.opens_at, offering.closes_at, offering.open_weekdays)
    return Hours(
        opens_at=time.fromisoformat(offering.opens_at) if offering.opens_at else None,
        closes_at=time.fromisoformat(offering.closes_at) if offering.closes_at else None,
        weekdays=frozenset(int(d) for d in offering.open_weekdays),
    )


def readable_hours(offering: Offering) -> Hours | None:
    """An offering's hours, or None (logged) when what is stored cannot be read, e.g. written around the rules."""
    try:
        return hours_of(offering)
    except Invalid as error:
        log.warning(
            "unreadable offering shown as unavailable",
            extra={
                "offering_id": offering.id,
                "city": offering.city_code,
                "service": offering.service_code,
                "channel": offering.channel,
                "problem": error.code,
            },
        )
        return None


def list_cities(snapshot: CatalogueSnapshot) -> tuple[CityEntry, ...]:
    """The cities citytiles serves, in display order."""
    return snapshot.cities


def tiles_for(snapshot: CatalogueSnapshot, city: str, channel: str, now: datetime) -> list[Tile]:
    """A city's tiles on one channel, in display order, each with its state at this moment."""
    snapshot.city(city)
    return [
        Tile(e.code, e.name, e.category, e.icon, availability(e.enabled, e.hours, e.windows, now))
        for e in snapshot.tiles.get((city, channel), ())
    ]
