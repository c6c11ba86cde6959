"""Car-move use-cases for the requester: ask, look, nudge, cancel.

A request is reserved under the limits' locks first (so parallel requests count), then sent to the
city's traffic-police system with no transaction open, then completed; a request the system never
took is marked failed and stops counting. A registered owner is told through their channel.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from datetime import datetime
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.car_move.messages import contact_free
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.models import OwnerAnswer
from city_services.car_move.models import RegisteredVehicle
from city_services.car_move.plates import PLATE_PURPOSE
from city_services.car_move.plates import mask_plate
from city_services.car_move.plates import read_plate
from city_services.car_move.provider import ACCEPTED
from city_services.car_move.provider import CarMoveProvider
from city_services.car_move.provider import MoveRequest
from city_services.car_move.provider import Place
from city_services.car_move.provider import Ticket
from city_services.car_move.rules import LIVE
from city_services.car_move.rules import SHANGHAI
from city_services.car_move.rules import check_limits
from city_services.car_move.rules import limits_of
from city_services.car_move.rules import lock
from city_services.car_move.rules import plate_key
from city_services.car_move.rules import requester_key
from city_services.car_move.views import MESSAGE_PURPOSE
from city_services.car_move.views import NUDGE_AFTER
from city_services.car_move.views import OWNER
from city_services.car_move.views import REQUESTER
from city_services.car_move.views import RequestView
from city_services.car_move.views import add_event
from city_services.car_move.views import seal_location
from city_services.car_move.views import view_of
from database import end_reads
from database import transaction
from errors import Conflict
from errors import DomainError
from errors import NotFound
from errors import TooManyRequests
from errors import UpstreamRejected
from identity.allowances import Allowances
from identity.models import Resident
from identity.people import person_ids
from identity.vault import Vault

log = logging.getLogger("citytiles.car_move")
# (owner's resident id, the notice's fields) -> whether the owner was told.
NotifyOwner = Callable[[int, dict[str, str]], bool]
REQUESTER_REF = "car_move.requester_ref"
# A front end polling a request asks the police at most this often.
REFRESH_AFTER = timedelta(seconds=15)
# The system's ticket statuses, as ours.
TICKET_STATUS = {
    ACCEPTED: "awaiting_owner",
    "notified": "notified",
    "acknowledged": "acknowledged",
    "moved": "moved",
    "unreachable": "unreachable",
    "cancelled": "cancelled",
}


@dataclass(frozen=True)
class NewRequest:
    """What a requester sends: the plate, where the car is, and a short message for the owner."""

    plate: str
    lat: float
    lng: float
    message: str = ""


def ask_to_move(
    session: Session,
    provider: CarMoveProvider,
    vault: Vault,
    requester: Resident,
    city: str,
    new: NewRequest,
    *,
    notify_owner: NotifyOwner,
    now: datetime,
    channel: str | None = None,
) -> RequestView:
    """Reserve the request under the limits, send it to the city's system, and tell a registered owner.

    :param channel: the channel the requester came through, kept for the city's figures.
    """
    plate = read_plate(new.plate)
    # Neither side learns the other's phone or ID number, even one typed into the message.
    new = replace(new, message=contact_free(new.message))
    plate_lookup = vault.lookup(PLATE_PURPOSE, plate)
    limits = limits_of(session, city)
    requesters = person_ids(session, requester.id)
    with transaction(session):
        lock(session, requester_key(requester.id))
        lock(session, plate_key(plate_lookup))
        check_limits(session, limits, requesters, plate_lookup, now, kept=Allowances(vault))
        row = CarMoveRequest(
            public_id="cm_" + secrets.token_hex(10),
            requester_id=requester.id,
            city_code=city,
            channel=channel,
            adapter=provider.name,
            request_no="ct" + secrets.token_hex(16),
            plate_sealed=vault.seal(PLATE_PURPOSE, plate),
            plate_lookup=plate_lookup,
            location_sealed=seal_location(vault, new.lat, new.lng),
            message_sealed=vault.seal(MESSAGE_PURPOSE, new.message) if new.message else None,
            status="submitting",
            timeline=[],
            created_at=now,
            updated_at=now,
        )
        add_event(row, "requested", now)
        session.add(row)
    owner_id = registered_owner(session, plate_lookup, requesters)
    move = MoveRequest(
        request_no=row.request_no,
        plate=plate,
        place=Place(lat=new.lat, lng=new.lng, address=f"经纬度 {new.lat:.6f},{new.lng:.6f}"),
        requester_ref=vault.lookup(REQUESTER_REF, requester.public_id)[:40],
        message=new.message,
    )
    end_reads(session)
    ticket = _submit(session, provider, row, move, reachable_here=owner_id is not None, now=now)
    with transaction(session):
        row = _locked(session, row.id)
        if row.status != "submitting":
            # A sweep settled it as stalled while the system took minutes to answer: it stays failed.
            return view_of(row, vault, REQUESTER, None)
        row.upstream_ticket = ticket.number if provider.contacts_owner else None
        row.owner_id = owner_id
        row.status = "awaiting_owner"
        apply_ticket(row, ticket, now)
        if owner_id is None and not provider.contacts_owner:
            # Nobody can reach this owner: the system does not, and they never registered with us.
            row.status = "unreachable"
            add_event(row, "owner_not_registered", now)
    if owner_id is not None:
        _tell_owner(session, vault, row.id, owner_id, notify_owner, now=now)
    return view_of(_row(session, row.id), vault, REQUESTER, None)


def show_request(
    session: Session,
    vault: Vault,
    resident: Resident,
    public_id: str,
    *,
    provider_for: Callable[[str], CarMoveProvider],
    now: datetime,
) -> RequestView:
    """The request as the asker sees it (refreshed from the system when it reaches owners) or the owner's view."""
    row, role = find_request(session, resident, public_id)
    due = row.updated_at + REFRESH_AFTER <= now
    if role == REQUESTER and row.status in LIVE and row.upstream_ticket is not None and due:
        try:
            provider = provider_for(row.city_code)
            # A ticket is only known to the system that issued it, not to one the city moved to since.
            if provider.contacts_owner and provider.name == row.adapter:
                end_reads(session)
                ticket = provider.status(row.upstream_ticket)
                with transaction(session):
                    apply_ticket(_locked(session, row.id), ticket, now)
        except DomainError as error:
            # The stored timeline is still true, only perhaps not the latest.
            log.info("car-move status not refreshed", extra={"code": error.code})
    return view_of(_row(session, row.id), vault, role, answer_to(session, row.id))


def nudge(
    session: Session,
    provider: CarMoveProvider,
    vault: Vault,
    requester: Resident,
    public_id: str,
    *,
    notify_owner: NotifyOwner,
    now: datetime,
) -> RequestView:
    """Remind the owner (催单), no sooner than ten minutes after the request or the last reminder."""
    row, role = find_request(session, requester, public_id)
    if role != REQUESTER:
        raise _not_found()
    with transaction(session):
        row = _locked(session, row.id)
        _refuse_finished(row)
        ready_at = (row.last_nudged_at or row.created_at) + NUDGE_AFTER
        if now < ready_at:
            raise TooManyRequests(
                "car_move.nudge_too_early",
                "You can remind the driver ten minutes after asking.",
                retry_after=max(1, int((ready_at - now).total_seconds() + 0.999)),
            )
        row.last_nudged_at = now
        row.updated_at = now
        add_event(row, "nudged", now)
    if row.owner_id is not None:
        _tell_owner(session, vault, row.id, row.owner_id, notify_owner, now=now)
    return show_request(session, vault, requester, public_id, provider_for=lambda _city: provider, now=now)


def cancel(
    session: Session, provider: CarMoveProvider, vault: Vault, requester: Resident, public_id: str, *, now: datetime
) -> RequestView:
    """Withdraw a live request, at the system too when it holds a ticket."""
    row, role = find_request(session, requester, public_id)
    if role != REQUESTER:
        raise _not_found()
    _refuse_finished(row)
    ticket: Ticket | None = None
    if row.upstream_ticket is not None and provider.name != row.adapter:
        raise Conflict(
            "car_move.system_changed",
            "The city now works with another traffic police system than the one handling this request.",
        )
    if row.upstream_ticket is not None and provider.contacts_owner:
        end_reads(session)
        try:
            ticket = provider.cancel(row.upstream_ticket)
        except UpstreamRejected as rejected:
            if rejected.code != "car_move.ticket_finished":
                raise
            ticket = provider.status(row.upstream_ticket)
    with transaction(session):
        row = _locked(session, row.id)
        if ticket is not None:
            # The system's news is kept even when it means the request can no longer be withdrawn.
            apply_ticket(row, ticket, now)
        if row.status in LIVE:
            row.status, row.updated_at = "cancelled", now
            add_event(row, "cancelled", now)
        withdrawn = row.status == "cancelled"
    if not withdrawn:
        # The owner moved the car, or answered, while we asked.
        _refuse_finished(row)
    return view_of(row, vault, REQUESTER, answer_to(session, row.id))


def my_requests(session: Session, vault: Vault, resident: Resident, limit: int = 50) -> list[RequestView]:
    """The requests I made (as any resident merged into me), newest first, as their requester sees them."""
    rows = session.scalars(
        select(CarMoveRequest)
        .where(CarMoveRequest.requester_id.in_(person_ids(session, resident.id)))
        .order_by(CarMoveRequest.created_at.desc(), CarMoveRequest.id.desc())
        .limit(limit)
    )
    return [view_of(row, vault, REQUESTER, None) for row in rows]


def find_request(session: Session, resident: Resident, public_id: str) -> tuple[CarMoveRequest, str]:
    """The request and the resident's side of it; NotFound for anyone else, so ids cannot be probed."""
    row = session.scalar(select(CarMoveRequest).where(CarMoveRequest.public_id == public_id))
    if row is None or row.status == "submitting":
        raise _not_found()
    ids = person_ids(session, resident.id)
    if row.requester_id in ids:
        return row, REQUESTER
    if row.owner_id is not None and row.owner_id in ids:
        return row, OWNER
    raise _not_found()


def registered_owner(session: Session, plate_lookup: str, requesters: frozenset[int]) -> int | None:
    """The resident who proved the plate is theirs, unless it is the requester themself."""
    owner = session.scalar(select(RegisteredVehicle.owner_id).where(RegisteredVehicle.plate_lookup == plate_lookup))
    return owner if owner is not None and owner not in requesters else None


def answer_to(session: Session, request_id: int) -> str | None:
    """The owner's answer, if any."""
    return session.scalar(select(OwnerAnswer.answer).where(OwnerAnswer.request_id == request_id))


def apply_ticket(row: CarMoveRequest, ticket: Ticket, now: datetime) -> None:
    """Carry the system's ticket into the request: new events, and its status while ours is live."""
    for event in ticket.events:
        if event.status != ACCEPTED:
            add_event(row, event.status, event.at)
    if row.status in LIVE and ticket.status != ACCEPTED:
        row.status = TICKET_STATUS[ticket.status]
    row.updated_at = now


def _submit(
    session: Session,
    provider: CarMoveProvider,
    row: CarMoveRequest,
    move: MoveRequest,
    *,
    reachable_here: bool,
    now: datetime,
) -> Ticket:
    """The system's ticket; a plate it does not know is still ours to carry when its owner registered with us."""
    try:
        return provider.submit(move)
    except UpstreamRejected as rejected:
        if rejected.code == "car_move.vehicle_not_found" and reachable_here:
            return Ticket(number=move.request_no, status=ACCEPTED, events=())
        _fail(session, row.id, now)
        raise
    except BaseException:
        _fail(session, row.id, now)
        raise


def _fail(session: Session, row_id: int, now: datetime) -> None:
    """The system never took the request: it stops counting against the limits."""
    with transaction(session):
        row = _locked(session, row_id)
        row.status, row.updated_at = "failed", now
        add_event(row, "failed", now)


def _tell_owner(
    session: Session, vault: Vault, row_id: int, owner_id: int, notify_owner: NotifyOwner, *, now: datetime
) -> None:
    """Send the owner a notice (outside any transaction) and record whether it reached them."""
    row = _row(session, row_id)
    if row.plate_sealed is None:
        return  # erased meanwhile
    location = view_of(row, vault, OWNER, None).location
    fields = {
        "plate": mask_plate(vault.open(PLATE_PURPOSE, row.plate_sealed)),
        "place": f"{location['lat']:.5f},{location['lng']:.5f}" if location else "见挪车请求",
        "time": row.created_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
        "message": vault.open(MESSAGE_PURPOSE, row.message_sealed) if row.message_sealed else "请尽快挪车",
    }
    end_reads(session)
    try:
        told = notify_owner(owner_id, fields)
    except DomainError as error:
        log.warning("car-move owner notice failed", extra={"code": error.code})
        told = False
    with transaction(session):
        row = _locked(session, row_id)
        add_event(row, "owner_told" if told else "owner_not_told", now)
        if told and row.status == "awaiting_owner":
            row.status = "notified"


def _refuse_finished(row: CarMoveRequest) -> None:
    if row.status not in LIVE:
        raise Conflict("car_move.request_finished", "This request is finished.", {"status": row.status})


def _locked(session: Session, row_id: int) -> CarMoveRequest:
    row = session.scalar(
        select(CarMoveRequest)
        .where(CarMoveRequest.id == row_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    assert row is not None  # rows are never deleted
    return row


def _row(session: Session, row_id: int) -> CarMoveRequest:
    row = session.get(CarMoveRequest, row_id, populate_existing=True)
    assert row is not None
    return row


def _not_found() -> NotFound:
    return NotFound("car_move.request_not_found", "No such car-move request of yours.")
