"""The in-process fake traffic-police system, for demos and tests: seedable, and kept honest by the contract suite."""

from __future__ import annotations

import itertools
import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import UTC
from datetime import datetime

from city_services.car_move.provider import ACCEPTED
from city_services.car_move.provider import CANCELLED
from city_services.car_move.provider import FINAL_TICKET_STATUSES
from city_services.car_move.provider import NOTIFIED
from city_services.car_move.provider import MoveRequest
from city_services.car_move.provider import OwnerCheck
from city_services.car_move.provider import Ticket
from city_services.car_move.provider import TicketEvent
from city_services.connection_params import FakeConnection
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from errors import UpstreamUnavailable

# The sandbox's demo vehicles, so a demo on the fake finds the same cars.
DEMO_VEHICLES = {
    "浙A12345": "330106199003071236",
    "浙AD12345": "330106197801010025",
    "粤B12345": "440305199204150037",
    "粤BD54321": "440304198809230055",
}


@dataclass(frozen=True, kw_only=True)
class Params(FakeConnection):
    """Only call limits: the fake has no address and no credentials, and production refuses it."""

    def connect(self, link: UpstreamLink) -> FakeTrafficPolice:
        """A fake that contacts owners itself, seeded with the demo vehicles."""
        police = FakeTrafficPolice(contacts_owner=True)
        for plate, owner in DEMO_VEHICLES.items():
            police.register(plate, owner)
        return police


@dataclass
class FakeTrafficPolice:
    """Vehicles and tickets in memory; `busy` makes every call fail as an unavailable system would."""

    contacts_owner: bool = True
    name: str = "fake"
    busy: bool = False
    vehicles: dict[str, str] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    _by_request_no: dict[str, str] = field(default_factory=dict)
    _numbers: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def register(self, plate: str, owner_id_number: str) -> None:
        """Seed a registered vehicle."""
        self.vehicles[plate] = owner_id_number.upper()

    def move_to(self, ticket: str, status: str) -> Ticket:
        """What the owner did, as a test says it."""
        with self._lock:
            earlier = self.tickets[ticket]
            moved = Ticket(ticket, status, (*earlier.events, TicketEvent(status, datetime.now(UTC))))
            self.tickets[ticket] = moved
            return moved

    def submit(self, request: MoveRequest) -> Ticket:
        """Open a ticket for a registered vehicle; a repeated request_no returns the first one."""
        self._answer()
        with self._lock:
            if request.request_no in self._by_request_no:
                return self.tickets[self._by_request_no[request.request_no]]
            if request.plate not in self.vehicles:
                raise UpstreamRejected(
                    "car_move.vehicle_not_found", "The traffic police have no vehicle with this plate.", "not_found"
                )
            number = f"FAKE{next(self._numbers):08d}"
            status = NOTIFIED if self.contacts_owner else ACCEPTED
            ticket = Ticket(number, status, (TicketEvent(status, datetime.now(UTC)),))
            self.tickets[number] = ticket
            self._by_request_no[request.request_no] = number
            return ticket

    def status(self, ticket: str) -> Ticket:
        """The ticket now."""
        self._answer()
        return self._find(ticket)

    def cancel(self, ticket: str) -> Ticket:
        """Withdraw; twice is fine, a finished ticket is a conflict."""
        self._answer()
        found = self._find(ticket)
        if found.status == CANCELLED:
            return found
        if found.status in FINAL_TICKET_STATUSES:
            raise UpstreamRejected(
                "car_move.ticket_finished", "The request is already finished and cannot be cancelled.", "conflict"
            )
        return self.move_to(ticket, CANCELLED)

    def owner_of(self, plate: str, id_number: str) -> OwnerCheck:
        """Like Guangdong when it does not contact owners; like Zhejiang (cannot say) when it does."""
        self._answer()
        if self.contacts_owner:
            return OwnerCheck(registered=None, owner_matched=None)
        registered = plate in self.vehicles
        return OwnerCheck(registered=registered, owner_matched=registered and self.vehicles[plate] == id_number.upper())

    def _find(self, ticket: str) -> Ticket:
        found = self.tickets.get(ticket)
        if found is None:
            if not self.contacts_owner:
                return Ticket(ticket, ACCEPTED, ())
            raise UpstreamRejected(
                "car_move.ticket_not_found", "The traffic police have no such car-move request.", "not_found"
            )
        return found

    def _answer(self) -> None:
        if self.busy:
            raise UpstreamUnavailable("upstream.unavailable", "The traffic police system is busy; try again soon.", 5)
