"""The catalogue as residents see it: cities and their tiles, served from a per-process cache."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from collections.abc import Hashable
from dataclasses import dataclass
from datetime import datetime
from datetime import time
from time import monotonic as monotonic_clock

from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from city_services.availability import Availability
from city_services.availability import Hours
from city_services.availability import Window
from city_services.availability import availability
from city_services.availability import next_change
from city_services.availability import with_upstream
from city_services.catalogue_changes import CHANGED
from city_services.catalogue_changes import COMMITS_HERE
from city_services.catalogue_changes import CatalogueChanges
from city_services.catalogue_changes import CommitsHere
from city_services.catalogue_changes import NoNews
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
    """A per-process copy of the catalogue, re-read only when news, a commit here or a poll says it may have moved.

    :param changes: how other processes' changes are heard of; without news the revision is re-read
        every `poll_seconds`; with a listener connected, every `recheck_seconds` as a safety net.
    :param monotonic: the timer for those intervals (tests pass one they control).
    :param local_commits: this process's catalogue commits (a test passes its own to act as another process).
    """

    def __init__(
        self,
        changes: CatalogueChanges | None = None,
        *,
        poll_seconds: float = 0.5,
        recheck_seconds: float = 15.0,
        monotonic: Callable[[], float] = monotonic_clock,
        local_commits: CommitsHere = COMMITS_HERE,
    ) -> None:
        self._changes: CatalogueChanges = changes if changes is not None else NoNews()
        self._poll_seconds = poll_seconds
        self._recheck_seconds = recheck_seconds
        self._monotonic = monotonic
        self._lock = threading.Lock()
        self._snapshot: CatalogueSnapshot | None = None
        self._checked_at: tuple[Hashable, int] | None = None
        self._recheck_due = 0.0
        self._local_commits = local_commits
        local_commits.watch()

    def snapshot(self, session: Callable[[], Session]) -> CatalogueSnapshot:
        """The catalogue at the latest committed revision; the database is asked only when it may have moved.

        :param session: gives a session when one is needed, so a fresh copy costs no connection at all.
        """
        cached = self._snapshot
        if cached is not None and self._fresh():
            return cached
        with self._lock:
            cached = self._snapshot
            if cached is not None and self._fresh():
                return cached  # another thread has just checked
            # Note the news before reading: news arriving during the read makes the next request read again.
            seen = (self._changes.stamp(), self._local_commits.count)
            started = self._monotonic()
            db = session()
            revision = current_revision(db)
            if cached is None or cached.revision != revision:
                # Read after the revision: rows are at least that new, so a newer label only costs a reload.
                cached = load_snapshot(db, revision)
                self._snapshot = cached
            interval = self._recheck_seconds if self._changes.listening() else self._poll_seconds
            self._checked_at, self._recheck_due = seen, started + interval
        return cached

    def _fresh(self) -> bool:
        return (
            self._monotonic() < self._recheck_due
            and (self._changes.stamp(), self._local_commits.count) == self._checked_at
        )


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
    # Seen on commit: caches in this process re-read at once, and the wiring tells other processes.
    session.info[CHANGED] = True


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


def tiles_for(
    snapshot: CatalogueSnapshot, city: str, channel: str, now: datetime, degraded: frozenset[str] = frozenset()
) -> list[Tile]:
    """A city's tiles on one channel, in display order, each with its state at this moment.

    :param degraded: the city's services whose upstream connection's breaker is open.
    """
    snapshot.city(city)
    return [
        Tile(e.code, e.name, e.category, e.icon, tile_availability(e, now, e.code in degraded))
        for e in snapshot.tiles.get((city, channel), ())
    ]


def tile_availability(entry: TileEntry, now: datetime, upstream_open: bool = False) -> Availability:
    """One tile's state at this moment."""
    return with_upstream(availability(entry.enabled, entry.hours, entry.windows, now), upstream_open)


def tile_entry(snapshot: CatalogueSnapshot, city: str, service: str, channel: str) -> TileEntry:
    """The offering of a service in a city on a channel, or NotFound."""
    snapshot.city(city)
    for entry in snapshot.tiles.get((city, channel), ()):
        if entry.code == service:
            return entry
    raise NotFound(
        "catalogue.offering_not_found",
        f"City {city} has no {service} service on {channel}.",
        {"city": city, "service": service, "channel": channel},
    )


def tiles_unchanged_until(snapshot: CatalogueSnapshot, city: str, channel: str, now: datetime) -> datetime | None:
    """Until when tiles_for gives the answer it gives now, at this revision; None: until the catalogue changes."""
    moments = (next_change(e.enabled, e.hours, e.windows, now) for e in snapshot.tiles.get((city, channel), ()))
    return min((moment for moment in moments if moment is not None), default=None)
