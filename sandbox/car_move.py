"""What the emulated traffic-police systems hold: registered vehicles and car-move tickets.

zhejiang_traffic_police takes car-move requests and contacts the owner itself; each request is a
ticket whose status goes notified -> acknowledged -> moved, or to unreachable (or cancelled by the
requester). guangdong_traffic_police only answers whether a plate is registered and whether it
belongs to a given ID number. Each system registers its own province's plates only.
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime

from sandbox.outbox import BEIJING
from sandbox.settings import SandboxConfig
from sandbox.upstream_access import IssuedTokens
from sandbox.upstream_access import NonceLedger
from sandbox.upstream_keys import UpstreamCredential
from sandbox.upstream_keys import load_or_create_upstream_credentials

ZHEJIANG = "zhejiang_traffic_police"
GUANGDONG = "guangdong_traffic_police"
SYSTEMS = (ZHEJIANG, GUANGDONG)
PROVINCE = {ZHEJIANG: "浙", GUANGDONG: "粤"}

# A civilian plate (GA 36): province, issuing-office letter, then 5 characters, or 6 for new-energy
# vehicles. Letters I and O are never used. Upper case only, as the plate shows it.
PLATE = re.compile(r"[京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼][A-HJ-NP-Z][A-HJ-NP-Z0-9]{5,6}")
# 号牌种类 (GA 24.7): 01 large, 02 small, 51 large new-energy, 52 small new-energy.
PLATE_TYPES = ("01", "02", "51", "52")

NOTIFIED, ACKNOWLEDGED, MOVED, UNREACHABLE, CANCELLED = "notified", "acknowledged", "moved", "unreachable", "cancelled"
FINISHED = (MOVED, UNREACHABLE, CANCELLED)
# status -> where it may go next
NEXT = {
    NOTIFIED: (ACKNOWLEDGED, MOVED, UNREACHABLE, CANCELLED),
    ACKNOWLEDGED: (MOVED, UNREACHABLE, CANCELLED),
    MOVED: (),
    UNREACHABLE: (),
    CANCELLED: (),
}


def default_plate_type(plate: str) -> str:
    """A small car's plate type: 52 for an 8-character (new-energy) plate, else 02."""
    return "52" if len(plate) == 8 else "02"


@dataclass
class Vehicle:
    """A vehicle as the traffic police registered it."""

    system: str
    plate: str
    plate_type: str
    owner_id_number: str
    owner_reachable: bool = True


@dataclass(frozen=True)
class Location:
    """Where the requester says the car is."""

    address: str
    longitude: float | None = None
    latitude: float | None = None


@dataclass
class Ticket:
    """One car-move request and what became of it."""

    ticket_no: str
    system: str
    request_no: str
    plate: str
    plate_type: str
    requester_ref: str
    location: Location
    message: str
    created_at: float
    owner_reachable: bool
    automatic: bool  # advances by itself on the configured clock until someone sets its status
    events: list[tuple[str, float]] = field(default_factory=list)

    @property
    def status(self) -> str:
        """The latest status."""
        return self.events[-1][0]

    @property
    def updated_at(self) -> float:
        """When the latest status was reached."""
        return self.events[-1][1]


class TicketConflict(ValueError):
    """A status change the ticket's current status does not allow."""


class RequestNoReused(ValueError):
    """A request number already used for a different request."""


class VehicleUnknown(LookupError):
    """No vehicle with this plate and plate type is registered with the system."""


class MonthlyLimitReached(ValueError):
    """The requester has opened as many tickets this month as the system allows."""


@dataclass
class TrafficPoliceRecords:
    """Registered vehicles of both systems and Zhejiang's car-move tickets."""

    step_seconds: float
    monthly_limit: int
    _vehicles: dict[tuple[str, str], Vehicle] = field(default_factory=dict)
    _tickets: dict[str, Ticket] = field(default_factory=dict)
    _by_request_no: dict[str, str] = field(default_factory=dict)
    _sequence: int = 0
    _lock: threading.RLock = field(default_factory=threading.RLock)

    def register(self, vehicle: Vehicle) -> bool:
        """Register (or re-register) a vehicle; True when it replaced one."""
        with self._lock:
            replaced = (vehicle.system, vehicle.plate) in self._vehicles
            self._vehicles[(vehicle.system, vehicle.plate)] = vehicle
            return replaced

    def vehicle(self, system: str, plate: str) -> Vehicle | None:
        """The registered vehicle with this plate, if any."""
        with self._lock:
            return self._vehicles.get((system, plate))

    def ask_owner_to_move(
        self,
        system: str,
        request_no: str,
        plate: str,
        plate_type: str,
        requester_ref: str,
        location: Location,
        message: str,
    ) -> Ticket:
        """Open a ticket for a registered vehicle, or return the one this request number already opened.

        Raises RequestNoReused, VehicleUnknown or MonthlyLimitReached; all checks and the opening happen
        under one lock, so two concurrent retries of one request open one ticket.
        """
        with self._lock:
            earlier = self._by_request_no.get(f"{system}:{request_no}")
            if earlier is not None:
                ticket = self._tickets[earlier]
                if (ticket.plate, ticket.plate_type, ticket.requester_ref) != (plate, plate_type, requester_ref):
                    raise RequestNoReused(request_no)
                self._advance(ticket)
                return ticket
            vehicle = self._vehicles.get((system, plate))
            if vehicle is None or vehicle.plate_type != plate_type:
                raise VehicleUnknown(plate)
            if self._requests_this_month(system, requester_ref) >= self.monthly_limit:
                raise MonthlyLimitReached(requester_ref)
            return self.open_ticket(vehicle, request_no, requester_ref, location, message)

    def _requests_this_month(self, system: str, requester_ref: str) -> int:
        month = datetime.now(BEIJING).strftime("%Y%m")
        return sum(
            1
            for t in self._tickets.values()
            if t.system == system
            and t.requester_ref == requester_ref
            and datetime.fromtimestamp(t.created_at, BEIJING).strftime("%Y%m") == month
        )

    def open_ticket(
        self, vehicle: Vehicle, request_no: str, requester_ref: str, location: Location, message: str
    ) -> Ticket:
        """A new ticket: the owner is being notified."""
        now = time.time()
        with self._lock:
            self._sequence += 1
            ticket_no = f"ZJNC{datetime.fromtimestamp(now, BEIJING):%Y%m%d}{self._sequence:06d}"
            ticket = Ticket(
                ticket_no=ticket_no,
                system=vehicle.system,
                request_no=request_no,
                plate=vehicle.plate,
                plate_type=vehicle.plate_type,
                requester_ref=requester_ref,
                location=location,
                message=message,
                created_at=now,
                owner_reachable=vehicle.owner_reachable,
                automatic=self.step_seconds > 0,
                events=[(NOTIFIED, now)],
            )
            self._tickets[ticket_no] = ticket
            self._by_request_no[f"{vehicle.system}:{request_no}"] = ticket_no
            return ticket

    def ticket(self, ticket_no: str) -> Ticket | None:
        """The ticket, brought up to date with the clock."""
        with self._lock:
            ticket = self._tickets.get(ticket_no)
            if ticket is not None:
                self._advance(ticket)
            return ticket

    def tickets(self, system: str | None = None, plate: str | None = None) -> list[Ticket]:
        """Tickets, oldest first, filtered by system and plate."""
        with self._lock:
            found = [
                t
                for t in self._tickets.values()
                if (system is None or t.system == system) and (plate is None or t.plate == plate)
            ]
            for ticket in found:
                self._advance(ticket)
            return found

    def move_to(self, ticket_no: str, status: str, *, by_hand: bool = True) -> Ticket | None:
        """Set a ticket's status; TicketConflict when its current status does not allow it."""
        with self._lock:
            ticket = self.ticket(ticket_no)
            if ticket is None:
                return None
            if status not in NEXT[ticket.status]:
                raise TicketConflict(f"a {ticket.status} ticket cannot become {status}")
            ticket.events.append((status, time.time()))
            ticket.automatic = ticket.automatic and not by_hand
            return ticket

    def _advance(self, ticket: Ticket) -> None:
        # The owner answers one step after being notified and has moved one step later; an
        # unreachable owner's ticket gives up after two steps.
        if not ticket.automatic or ticket.status in FINISHED:
            return
        plan = [(ACKNOWLEDGED, 1), (MOVED, 2)] if ticket.owner_reachable else [(UNREACHABLE, 2)]
        now = time.time()
        for status, steps in plan:
            due = ticket.created_at + steps * self.step_seconds
            if due <= now and status in NEXT[ticket.status]:
                ticket.events.append((status, due))


@dataclass(frozen=True)
class TrafficPoliceSystems:
    """Both emulated traffic-police systems: records, callers' credentials, and the state of their doors."""

    records: TrafficPoliceRecords
    credentials: dict[str, UpstreamCredential]
    zhejiang_tokens: IssuedTokens
    guangdong_nonces: NonceLedger


def build_traffic_police_systems(config: SandboxConfig) -> TrafficPoliceSystems:
    """Load or create the credentials and register the demo vehicles."""
    records = TrafficPoliceRecords(config.car_move_step_seconds, config.car_move_monthly_limit)
    seed_demo_vehicles(records)
    return TrafficPoliceSystems(
        records=records,
        credentials=load_or_create_upstream_credentials(config.state_dir, SYSTEMS),
        zhejiang_tokens=IssuedTokens(config.upstream_token_ttl_seconds),
        guangdong_nonces=NonceLedger(config.upstream_clock_skew_seconds),
    )


def seed_demo_vehicles(records: TrafficPoliceRecords) -> None:
    """The demo vehicles of sandbox/README.md."""
    for system, plate, owner, reachable in (
        (ZHEJIANG, "浙A12345", "330106199003071236", True),
        (ZHEJIANG, "浙AD12345", "330106197801010025", False),
        (GUANGDONG, "粤B12345", "440305199204150037", True),
        (GUANGDONG, "粤BD54321", "440304198809230055", True),
    ):
        records.register(Vehicle(system, plate, default_plate_type(plate), owner, reachable))
