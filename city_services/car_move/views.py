"""How a car-move request is shown: the requester's view and the owner's reduced view, never each other's identity."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

from city_services.car_move.models import CarMoveRequest
from city_services.car_move.plates import PLATE_PURPOSE
from city_services.car_move.plates import mask_plate
from identity.vault import Vault

LOCATION_PURPOSE = "car_move.location"
MESSAGE_PURPOSE = "car_move.message"
NUDGE_AFTER = timedelta(minutes=10)
REQUESTER, OWNER = "requester", "owner"
# What the owner's view leaves out of the timeline: how the requester chased, and how we reached the owner.
REQUESTER_ONLY_EVENTS = ("nudged", "owner_told", "owner_not_told", "owner_not_registered")


@dataclass(frozen=True)
class RequestView:
    """One request as one side sees it."""

    id: str
    city: str
    role: str
    status: str
    plate: str | None
    location: dict[str, float] | None
    message: str | None
    timeline: list[dict[str, Any]]
    answer: str | None
    created_at: datetime
    nudge_after: datetime | None


def add_event(row: CarMoveRequest, event: str, at: datetime) -> None:
    """Append to the timeline (a new list, so the JSON column sees the change)."""
    entry = {"event": event, "at": at.astimezone(UTC).isoformat()}
    if entry not in row.timeline:
        row.timeline = [*row.timeline, entry]


def seal_location(vault: Vault, lat: float, lng: float) -> str:
    """The location, sealed."""
    return vault.seal(LOCATION_PURPOSE, json.dumps({"lat": lat, "lng": lng}))


def view_of(row: CarMoveRequest, vault: Vault, role: str, answer: str | None) -> RequestView:
    """The request as the requester or the owner sees it; sealed fields opened only here."""
    location = json.loads(vault.open(LOCATION_PURPOSE, row.location_sealed)) if row.location_sealed else None
    timeline = [
        {"event": e["event"], "at": datetime.fromisoformat(e["at"])}
        for e in row.timeline
        if role == REQUESTER or e["event"] not in REQUESTER_ONLY_EVENTS
    ]
    since = row.last_nudged_at or row.created_at
    return RequestView(
        id=row.public_id,
        city=row.city_code,
        role=role,
        status=row.status,
        plate=mask_plate(vault.open(PLATE_PURPOSE, row.plate_sealed)) if row.plate_sealed else None,
        location=location,
        message=vault.open(MESSAGE_PURPOSE, row.message_sealed) if row.message_sealed else None,
        timeline=timeline,
        answer=answer,
        created_at=row.created_at,
        nudge_after=since + NUDGE_AFTER if role == REQUESTER else None,
    )
