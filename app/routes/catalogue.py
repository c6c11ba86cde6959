"""Resident endpoints: the cities served and each city's tiles."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app
from flask import request

from app.db_session import get_session
from app.operations import operation
from app.schemas.catalogue import CitiesSchema
from app.schemas.catalogue import TilesQuerySchema
from app.schemas.catalogue import TilesSchema
from city_services.catalogue import CatalogueSnapshot
from city_services.catalogue import list_cities
from city_services.catalogue import tiles_for

blueprint = Blueprint("catalogue", __name__, url_prefix="/api/v1")
LANGUAGES = ("zh-CN", "en")


@blueprint.get("/cities")
@operation(summary="List the cities citytiles serves", tag="catalogue", response=CitiesSchema())
def cities() -> dict[str, Any]:
    """Cities in display order, named in the caller's language."""
    lang = preferred_language()
    return {"cities": [{"code": c.code, "name": c.name[lang]} for c in list_cities(catalogue_snapshot())]}


@blueprint.get("/cities/<city>/services")
@operation(
    summary="A city's service tiles on one channel, with each tile's state now",
    tag="catalogue",
    query=TilesQuerySchema,
    response=TilesSchema(),
    errors=("catalogue.city_not_found",),
)
def city_services(city: str, params: dict[str, str]) -> dict[str, Any]:
    """Tiles in display order; a tile that is not available says why and when it is expected back."""
    lang = preferred_language()
    snapshot = catalogue_snapshot()
    tiles = tiles_for(snapshot, city, params["channel"], current_app.extensions["clock"]())
    entry = snapshot.city(city)
    return {
        "city": {"code": entry.code, "name": entry.name[lang]},
        "channel": params["channel"],
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


def catalogue_snapshot() -> CatalogueSnapshot:
    """The catalogue at the latest revision, from this process's cache."""
    return current_app.extensions["catalogue_cache"].snapshot(get_session())


def preferred_language() -> str:
    """zh-CN unless the caller's Accept-Language prefers English."""
    return request.accept_languages.best_match(LANGUAGES, default="zh-CN") or "zh-CN"
