"""Resident endpoints: the cities served and each city's tiles."""

from __future__ import annotations

import functools
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from werkzeug.datastructures import LanguageAccept
from werkzeug.http import parse_accept_header

from app.catalogue_pages import conditional_response
from app.db_session import get_session
from app.operations import operation
from app.schemas.catalogue import CitiesSchema
from app.schemas.catalogue import TilesQuerySchema
from app.schemas.catalogue import TilesSchema
from city_services.catalogue import CatalogueSnapshot
from city_services.catalogue import list_cities
from city_services.catalogue import tiles_for
from city_services.catalogue import tiles_unchanged_until
from city_services.upstream_link import connection_key

blueprint = Blueprint("catalogue", __name__, url_prefix="/api/v1")
LANGUAGES = ("zh-CN", "en")
DEGRADED_RECHECK = timedelta(seconds=5)


@blueprint.get("/cities")
@operation(summary="List the cities citytiles serves", tag="catalogue", response=CitiesSchema(), conditional=True)
def cities() -> Response:
    """Cities in display order, named in the caller's language."""
    lang = preferred_language()
    snapshot = catalogue_snapshot()
    now = current_app.extensions["clock"]()

    def render() -> tuple[Any, datetime | None]:
        listed = [{"code": c.code, "name": c.name[lang]} for c in list_cities(snapshot)]
        return CitiesSchema().dump({"cities": listed}), None

    page = current_app.extensions["catalogue_pages"].page(snapshot.revision, ("cities", lang), now, render)
    return conditional_response(page, now)


@blueprint.get("/cities/<city>/services")
@operation(
    summary="A city's service tiles on one channel, with each tile's state now",
    tag="catalogue",
    query=TilesQuerySchema,
    response=TilesSchema(),
    errors=("catalogue.city_not_found",),
    conditional=True,
)
def city_services(city: str, params: dict[str, str]) -> Response:
    """Tiles in display order; a tile that is not available says why and when it is expected back."""
    lang = preferred_language()
    channel = params["channel"]
    snapshot = catalogue_snapshot()
    now = current_app.extensions["clock"]()
    degraded = degraded_services(snapshot, city, channel)

    def render() -> tuple[Any, datetime | None]:
        tiles = tiles_for(snapshot, city, channel, now, degraded)
        entry = snapshot.city(city)
        data = {
            "city": {"code": entry.code, "name": entry.name[lang]},
            "channel": channel,
            "tiles": [
                {
                    "code": tile.code,
                    "name": tile.name[lang],
                    "category": tile.category,
                    "icon": tile.icon,
                    "state": tile.availability.state,
                    "message": tile.availability.message[lang] if tile.availability.message else None,
                    "available_again_at": tile.availability.back_at,
                }
                for tile in tiles
            ],
        }
        until = tiles_unchanged_until(snapshot, city, channel, now)
        if degraded:
            # Recovery is not a catalogue change: clients must ask again soon to see the tile come back.
            until = min(until, now + DEGRADED_RECHECK) if until else now + DEGRADED_RECHECK
        return TilesSchema().dump(data), until

    key = ("tiles", city, channel, lang, degraded)
    page = current_app.extensions["catalogue_pages"].page(snapshot.revision, key, now, render)
    # Counted once the city is known to exist (render raised otherwise); a dict increment, no write.
    current_app.extensions["tally"].count_visit(city, channel, now)
    return conditional_response(page, now)


def degraded_services(snapshot: CatalogueSnapshot, city: str, channel: str) -> frozenset[str]:
    """The city's services on this channel whose connection's breaker refuses calls, as this process last read."""
    watch = current_app.extensions["breaker_watch"]
    return frozenset(
        entry.code
        for entry in snapshot.tiles.get((city, channel), ())
        if watch.refuses_calls(connection_key(city, entry.code))
    )


def catalogue_snapshot() -> CatalogueSnapshot:
    """The catalogue at the latest revision, from this process's cache; a session is opened only to re-read it."""
    return current_app.extensions["catalogue_cache"].snapshot(get_session)


def preferred_language() -> str:
    """zh-CN unless the caller's Accept-Language prefers English."""
    return language_for(request.headers.get("Accept-Language", ""))


@functools.lru_cache(maxsize=256)
def language_for(accept_language: str) -> str:
    """Our best language for an Accept-Language header; clients send few distinct ones, so each is parsed once."""
    return parse_accept_header(accept_language, LanguageAccept).best_match(LANGUAGES, default="zh-CN") or "zh-CN"
