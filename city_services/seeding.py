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
from city_services.connection_params import params_document
from city_services.models import City
from city_services.models import Offering
from city_services.models import Service
from city_services.models import UpstreamConnection
from city_services.offering_rules import check_channel
from city_services.offering_rules import check_hours
from city_services.offering_rules import normalise_weekdays
from city_services.upstreams import ConnectionSetting
from city_services.upstreams import read_connection_params
from database import transaction
from errors import Invalid
from text_rules import CITY_CODE
from text_rules import matches
from text_rules import text_problem

# Codes, categories and icons are ASCII words; names are what the model's columns hold.
_SERVICE_WORD = re.compile(r"[a-z][a-z0-9_-]{0,31}")
MAX_NAME_LENGTH = 64
CITY_KEYS = frozenset({"code", "name_zh", "name_en", "offerings", "upstreams"})
OFFERING_KEYS = frozenset({"service", "channels", "enabled", "hours"})
UPSTREAM_KEYS = frozenset({"service", "adapter", "params"})


@dataclass(frozen=True)
class SeedOffering:
    """One city × service × channel as the seed file describes it."""

    city: str
    service: str
    channel: str
    enabled: bool
    opens_at: str | None
    closes_at: str | None
    open_weekdays: str


@dataclass(frozen=True)
class CatalogueSeed:
    """The parsed seed file."""

    services: list[dict[str, Any]]
    cities: list[dict[str, Any]]
    offerings: list[SeedOffering]
    connections: list[ConnectionSetting]


@dataclass
class SeedReport:
    """What one seeding run added."""

    cities: list[str] = field(default_factory=list)
    services: list[str] = field(default_factory=list)
    offerings: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)


def read_seed(path: Path) -> CatalogueSeed:
    """Parse and check the seed file, naming the entry at fault when something is wrong."""
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise Invalid("catalogue.seed_unreadable", f"Cannot read the seed catalogue {path}: {error}") from error
    services = [_service(entry) for entry in document.get("services", [])]
    service_codes = {s["code"] for s in services}
    cities, offerings, connections = [], [], []
    for city in document.get("cities", []):
        code = str(city.get("code", ""))
        if not matches(CITY_CODE, code):
            raise Invalid("catalogue.invalid_city_code", f"City code {code!r} is not a 6-digit division code.")
        if any(text_problem(city.get(k), max_length=MAX_NAME_LENGTH) for k in ("name_zh", "name_en")):
            raise Invalid("catalogue.invalid_seed", f"City {code} needs name_zh and name_en, one line each.")
        _refuse_unknown_keys(f"City {code}", city, CITY_KEYS)
        cities.append({"code": code, "name_zh": city["name_zh"], "name_en": city["name_en"]})
        city_offerings = [o for entry in city.get("offerings", []) for o in _offerings(code, entry, service_codes)]
        city_connections = [_connection(code, entry, service_codes) for entry in city.get("upstreams", [])]
        _require_one_connection_per_service(code, city_offerings, city_connections)
        offerings.extend(city_offerings)
        connections.extend(city_connections)
    return CatalogueSeed(services, cities, offerings, connections)


def seed_catalogue(session: Session, seed: CatalogueSeed, *, now: datetime) -> SeedReport:
    """Insert the cities, services, offerings and connections not stored yet; leave existing rows alone."""
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
                    opens_at=offering.opens_at,
                    closes_at=offering.closes_at,
                    open_weekdays=offering.open_weekdays,
                    updated_at=now,
                )
            )
            report.offerings.append("/".join(key))
        connected = {
            tuple(row) for row in session.execute(select(UpstreamConnection.city_code, UpstreamConnection.service_code))
        }
        for connection in seed.connections:
            if (connection.city, connection.service) in connected:
                continue
            session.add(
                UpstreamConnection(
                    city_code=connection.city,
                    service_code=connection.service,
                    adapter=connection.adapter,
                    params=connection.params,
                    updated_at=now,
                )
            )
            report.connections.append(f"{connection.city}/{connection.service}")
        if report.cities or report.services or report.offerings or report.connections:
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
    if {"upstream", "upstream_params"} & set(entry):
        raise Invalid(
            "catalogue.invalid_seed",
            f"{city}/{service}: upstreams are per city and service now; move upstream and upstream_params "
            "to a [[cities.upstreams]] entry as adapter and params.",
        )
    _refuse_unknown_keys(f"{city}/{service} offering", entry, OFFERING_KEYS)
    hours = entry.get("hours", {})
    if not isinstance(hours, dict):
        raise Invalid("catalogue.invalid_seed", f"{city}/{service}: hours must be a table.")
    opens_at, closes_at = hours.get("opens_at"), hours.get("closes_at")
    weekdays = normalise_weekdays(str(hours.get("weekdays", "1234567")))
    check_hours(opens_at, closes_at, weekdays)
    if not isinstance(entry.get("enabled", False), bool):
        raise Invalid("catalogue.invalid_seed", f"{city}/{service}: enabled must be true or false.")
    offerings = []
    for channel in entry.get("channels", []):
        check_channel(channel)
        offerings.append(
            SeedOffering(
                city=city,
                service=service,
                channel=channel,
                enabled=entry.get("enabled", False),
                opens_at=opens_at,
                closes_at=closes_at,
                open_weekdays=weekdays,
            )
        )
    return offerings


def _connection(city: str, entry: dict[str, Any], service_codes: set[str]) -> ConnectionSetting:
    service = entry.get("service", "")
    if service not in service_codes:
        raise Invalid("catalogue.invalid_seed", f"City {city} names an upstream for unknown service {service!r}.")
    _refuse_unknown_keys(f"{city}/{service} upstream", entry, UPSTREAM_KEYS)
    adapter = entry.get("adapter", "")
    try:
        params = read_connection_params(service, adapter, entry.get("params", {}))
    except Invalid as refused:
        raise Invalid(refused.code, f"{city}/{service}: {refused.message}", refused.details) from refused
    return ConnectionSetting(city, service, adapter, params_document(params))


def _require_one_connection_per_service(
    city: str, offerings: list[SeedOffering], connections: list[ConnectionSetting]
) -> None:
    """Every service a city offers goes through exactly one upstream connection, whatever the channel."""
    named = [c.service for c in connections]
    repeated = sorted({service for service in named if named.count(service) > 1})
    if repeated:
        raise Invalid(
            "catalogue.invalid_seed", f"{city}/{repeated[0]}: one upstream per city and service, not several."
        )
    unconnected = sorted({o.service for o in offerings} - set(named))
    if unconnected:
        raise Invalid(
            "catalogue.invalid_seed", f"{city}/{unconnected[0]} is offered but has no [[cities.upstreams]] entry."
        )


def _refuse_unknown_keys(where: str, entry: dict[str, Any], known: frozenset[str]) -> None:
    """A misspelt key would otherwise be dropped without a word."""
    unknown = sorted(str(key) for key in set(entry) - known)
    if unknown:
        raise Invalid("catalogue.invalid_seed", f"{where}: unknown keys {unknown}; known are {sorted(known)}.")
