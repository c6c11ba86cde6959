"""The check every service call makes first: is this service open to this resident's channel in this city now?"""

from __future__ import annotations

import math
from datetime import datetime

from city_services.availability import Availability
from city_services.catalogue import CatalogueSnapshot
from city_services.catalogue import tile_availability
from city_services.catalogue import tile_entry
from errors import Conflict
from errors import UpstreamUnavailable

# How soon to retry when the tile gives no moment it is back.
DEFAULT_RETRY_SECONDS = 60


class ServiceClosed(Conflict):
    """The service is switched off here, or outside its hours: retrying soon will not help."""


class ServicePaused(UpstreamUnavailable):
    """The service is in a maintenance window: it will be back, Retry-After says when."""


def open_service(snapshot: CatalogueSnapshot, city: str, service: str, channel: str, now: datetime) -> None:
    """Refuse, with the notice residents see on the tile, a call to a service its tile does not offer now.

    A degraded tile is not refused here: the connection's breaker refuses at once (503 with
    Retry-After) while it is open, and lets one trial call through when it may close again.
    """
    state = tile_availability(tile_entry(snapshot, city, service, channel), now)
    if state.state == "available":
        return
    details = _details(state, city, service, channel)
    message = (state.message or {}).get("zh-CN", "")
    if state.state == "maintenance":
        raise ServicePaused("service.maintenance", message, _retry_after(state, now), details)
    code = {"unavailable": "service.not_offered", "off_hours": "service.off_hours"}[state.state]
    raise ServiceClosed(code, message, details)


def _details(state: Availability, city: str, service: str, channel: str) -> dict[str, object]:
    return {
        "city": city,
        "service": service,
        "channel": channel,
        "state": state.state,
        "message": state.message,
        "available_again_at": state.back_at.isoformat() if state.back_at else None,
    }


def _retry_after(state: Availability, now: datetime) -> int:
    if state.back_at is None:
        return DEFAULT_RETRY_SECONDS
    return max(1, math.ceil((state.back_at - now).total_seconds()))
