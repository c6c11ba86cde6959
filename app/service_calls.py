"""What every resident service endpoint does first: the tile gate for the session's channel, then the adapter."""

from __future__ import annotations

from typing import Any

from flask import current_app

from app.db_session import get_session
from app.routes.catalogue import catalogue_snapshot
from app.service_figures import note_service_call
from city_services.service_gate import open_service
from errors import DomainError
from errors import Forbidden
from errors import NotFound
from identity.residents import SignedIn

# Every service endpoint may answer these besides its own codes.
GATE_ERRORS = (
    "catalogue.city_not_found",
    "catalogue.offering_not_found",
    "service.not_offered",
    "service.off_hours",
    "service.maintenance",
    "upstream.unavailable",
    "upstream.busy",
)


def session_channel(signed_in: SignedIn) -> str:
    """The channel the resident's session came through."""
    if signed_in.identity is None:
        raise Forbidden("auth.forbidden", "This session did not come through a channel.")
    return signed_in.identity.channel


def open_city_service(signed_in: SignedIn, city: str, service: str) -> Any:
    """Refuse unless the service's tile is open in the city on the session's channel; then its adapter."""
    now = current_app.extensions["clock"]()
    channel = session_channel(signed_in)
    try:
        open_service(catalogue_snapshot(), city, service, channel, now)
    except NotFound:
        raise  # no such tile: nothing the city offers, and a made-up city must not grow the figures
    except DomainError:
        note_service_call(city, service, channel)  # turned away at the tile gate: a request that did not succeed
        raise
    note_service_call(city, service, channel)
    return current_app.extensions["upstreams"].provider(get_session(), city, service)
