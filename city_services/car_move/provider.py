"""The car-move port: what citytiles asks a traffic-police system, in the business's words.

Two kinds of system stand behind it. One contacts the owner itself (Zhejiang): `submit` opens a
ticket whose status moves on there, NOTIFIED → ACKNOWLEDGED → MOVED, or UNREACHABLE. The other only
says whether a plate is registered and whether it is a given person's (Guangdong): its `submit`
confirms the vehicle exists and returns a ticket citytiles carries on itself, reaching the owner
through the channel. `contacts_owner` says which kind an adapter is.
"""

from __future__ import annotations

from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from typing import Protocol

NOTIFIED, ACKNOWLEDGED, MOVED, UNREACHABLE, CANCELLED = "notified", "acknowledged", "moved", "unreachable", "cancelled"
# The system confirmed the vehicle and left reaching the owner to us.
ACCEPTED = "accepted"
TICKET_STATUSES = (ACCEPTED, NOTIFIED, ACKNOWLEDGED, MOVED, UNREACHABLE, CANCELLED)
FINAL_TICKET_STATUSES = (MOVED, UNREACHABLE, CANCELLED)
# 号牌种类 (GA 24.7): small car, small new-energy car; a requester cannot tell large from small, so small.
SMALL_CAR, SMALL_NEW_ENERGY = "02", "52"


def plate_type_of(plate: str) -> str:
    """The plate type citytiles asks about: new-energy for an 8-character plate, else a small car."""
    return SMALL_NEW_ENERGY if len(plate) == 8 else SMALL_CAR


@dataclass(frozen=True)
class Place:
    """Where the requester says the car is: coordinates and a short description for the owner."""

    lat: float = field(repr=False)
    lng: float = field(repr=False)
    address: str = field(repr=False)


@dataclass(frozen=True)
class MoveRequest:
    """One request to move a car; request_no makes a retried submit open one ticket."""

    request_no: str
    plate: str = field(repr=False)
    place: Place = field(repr=False)
    requester_ref: str
    message: str = field(default="", repr=False)


@dataclass(frozen=True)
class TicketEvent:
    """One status the ticket reached, and when."""

    status: str
    at: datetime


@dataclass(frozen=True)
class Ticket:
    """A request as the system holds it: its number there, status and history."""

    number: str
    status: str
    events: tuple[TicketEvent, ...]

    @property
    def finished(self) -> bool:
        """Whether the system will move this ticket no further."""
        return self.status in FINAL_TICKET_STATUSES


@dataclass(frozen=True)
class OwnerCheck:
    """What a system says about a plate and a person; None where it cannot say."""

    registered: bool | None
    owner_matched: bool | None


class CarMoveProvider(Protocol):
    """A traffic-police system, as citytiles uses it to ask a driver to move their car."""

    name: str
    contacts_owner: bool

    def submit(self, request: MoveRequest) -> Ticket:
        """Open a ticket for a registered vehicle; UpstreamRejected car_move.vehicle_not_found if there is none."""

    def status(self, ticket: str) -> Ticket:
        """The ticket now; UpstreamRejected car_move.ticket_not_found for a number the system never issued."""

    def cancel(self, ticket: str) -> Ticket:
        """Withdraw the request; cancelling twice is fine, a finished ticket is car_move.ticket_finished."""

    def owner_of(self, plate: str, id_number: str) -> OwnerCheck:
        """Whether the plate is registered and whether it is the holder of this ID number's."""
