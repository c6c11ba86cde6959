"""Seeding the catalogue from config/cities.toml: adds what is new, never overwrites operators' changes."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.catalogue import bump_revision
from city_services.models import City
from city_services.models import Offering
from city_services.models import Service
from city_services.offering_rules import check_channel
from city_services.offering_rules import check_hours
from city_services.offering_rules import check_upstream
from city_services.offering_rules import normalise_weekdays
from database import transaction
from errors import Invalid
from text_rules import CITY_CODE
from text_rules import matches
from text_rules import text_problem

# Codes, categories and icons are ASCII words; names are what the model's columns hold.
_SERVICE_WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_NAME_LENGTH = 64


@dataclass(frozen=True)
class SeedOffering:
    """One city × service × channel as the seed file describes it."""

    city: str
    service: str
    channel: str
    enabled: bool
    upstream: str
    upstream_params: dict[str, Any]
    opens_at: str | None
    closes_at: str | None
    open_weekdays: str


@dataclass(frozen=True)
class CatalogueSeed:
    """The parsed seed file."""

    services: list[dict[str, Any]]
    cities: list[dict[str, Any]]
    offerings: list[SeedOffering]

    def upstreams(self) -> list[tuple[str, str, dict[str, Any]]]:
        """(where, adapter, parameters) for each offering, for the production safety check."""
        return [(f"{o.city}/{o.service}/{o.channel}", o.upstream, o.upstream_params) for o in self.offerings]


@dataclass
class SeedReport:
    """What one seeding run added."""

    cities: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    offerings: list[str] = field(default_factory=list)


def read_seed(path: Path) -> CatalogueSeed:
    """Parse and check the seed file, naming the entry at fault when something is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise Invalid("catalogue.seed_unreadable", f"Cannot read the seed catalogue {path}: {error}") from error
    services = [_service(entry) for entry in document.get("services", [])]
    service_codes = {s["code"] for s in services}
    cities, offerings = [], []
    for city in document.get("cities", []):
        code = str(city.get("code", ""))
        if not matches(CITY_CODE, code):
            raise Invalid("catalogue.invalid_city_code", f"City code {code!r} is not a 6-digit division code.")
        if any(text_problem(city.get(k), max_length=MAX_NAME_LENGTH) for k in ("name_zh", "name_en")):
            raise Invalid("catalogue.invalid_seed", f"City {code} needs name_zh and name_en, one line each.")
        cities.append({"code": code, "name_zh": city["name_zh"], "name_en": city["name_en"]})
        for entry in city.get("offerings", []):
            offerings.extend(_offerings(code, entry, service_codes))
    return CatalogueSeed(services, cities, offerings)


def seed_catalogue(session: Session, seed: CatalogueSeed, *, now: datetime) -> SeedReport:
    """Insert the cities, services and offerings that are not stored yet; leave existing rows alone."""
    report = SeedReport()
    with transaction(session):
        known_services = set(session.scalars(select(Service.code)))
        for order, entry in enumerate(seed.services):
            if entry["code"] not in known_services:
                session.add(Service(display_order=order, **entry))
                report.services.append(entry["code"])
        known_cities = set(session.scalars(select(City.code)))
        for order, entry in enumerate(seed.cities):
            if entry["code"] not in known_cities:
                session.add(City(display_order=order, **entry))
                report.cities.append(entry["code"])
        session.flush()
        existing = {
            tuple(row) for row in session.execute(select(Offering.city_code, Offering.service_code, Offering.channel))
        }
        for offering in seed.offerings:
            key = (offering.city, offering.service, offering.channel)
            if key in existing:
                continue
            session.add(
                Offering(
                    city_code=offering.city,
                    service_code=offering.service,
                    channel=offering.channel,
                    enabled=offering.enabled,
                    upstream=offering.upstream,
                    upstream_params=offering.upstream_params,
                    opens_at=offering.opens_at,
                    closes_at=offering.closes_at,
                    open_weekdays=offering.open_weekdays,
                    updated_at=now,
                )
            )
            report.offerings.append("/".join(key))
        if report.cities or report.services or report.offerings:
            bump_revision(session)
    return report


def _service(entry: dict[str, Any]) -> dict[str, Any]:
    keys = ("code", "name_zh", "name_en", "category", "icon")
    missing = [k for k in keys if k not in entry]
    if missing:
        raise Invalid("catalogue.invalid_seed", f"Service {entry.get('code')!r} lacks {', '.join(missing)}.")
    if not all(matches(_SERVICE_WORD, entry[k]) for k in ("code", "category", "icon")):
        raise Invalid("catalogue.invalid_seed", f"Service {entry['code']!r}: code, category and icon are ASCII words.")
    if any(text_problem(entry[k], max_length=MAX_NAME_LENGTH) for k in ("name_zh", "name_en")):
        raise Invalid("catalogue.invalid_seed", f"Service {entry['code']!r}: names are one line of text each.")
    return {k: entry[k] for k in keys}


def _offerings(city: str, entry: dict[str, Any], service_codes: set[str]) -> list[SeedOffering]:
    service = entry.get("service", "")
    if service not in service_codes:
        raise Invalid("catalogue.invalid_seed", f"City {city} offers unknown service {service!r}.")
    hours = entry.get("hours", {})
    if not isinstance(hours, dict):
        raise Invalid("catalogue.invalid_seed", f"{city}/{service}: hours must be a table.")
    opens_at, closes_at = hours.get("opens_at"), hours.get("closes_at")
    weekdays = normalise_weekdays(str(hours.get("weekdays", "1234567")))
    check_hours(opens_at, closes_at, weekdays)
    if not isinstance(entry.get("enabled", False), bool):
        raise Invalid("catalogue.invalid_seed", f"{city}/{service}: enabled must be true or false.")
    if not isinstance(entry.get("upstream_params", {}), dict):
        raise Invalid("catalogue.invalid_seed", f"{city}/{service}: upstream_params must be a table.")
    params = dict(entry.get("upstream_params", {}))
    check_upstream(service, entry.get("upstream", ""), params)
    offerings = []
    for channel in entry.get("channels", []):
        check_channel(channel)
        offerings.append(
            SeedOffering(
                city=city,
                service=service,
                channel=channel,
                enabled=entry.get("enabled", False),
                upstream=entry["upstream"],
                upstream_params=params,
                opens_at=opens_at,
                closes_at=closes_at,
                open_weekdays=weekdays,
            )
        )
    return offerings
