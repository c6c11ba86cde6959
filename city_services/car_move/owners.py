"""Car-move use-cases for owners: register my plate, see the requests about my cars, answer one.

A plate is registered only when the city's traffic-police system confirms, by ID number, that it
is the resident's. Zhejiang's system cannot say whose a car is (it reaches owners itself, by phone),
so registration there is refused rather than taken on the resident's word: a plate registered by
someone else would tell them where that car is whenever it blocks someone.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy import func
from sqlalchemy import or_
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from city_services.car_move.models import CarMoveLock
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.models import OwnerAnswer
from city_services.car_move.models import RegisteredVehicle
from city_services.car_move.plates import PLATE_PURPOSE
from city_services.car_move.plates import mask_plate
from city_services.car_move.plates import read_plate
from city_services.car_move.provider import CarMoveProvider
from city_services.car_move.rules import LIVE
from city_services.car_move.rules import plate_key
from city_services.car_move.rules import requester_key
from city_services.car_move.service import answer_to
from city_services.car_move.service import find_request
from city_services.car_move.views import OWNER
from city_services.car_move.views import RequestView
from city_services.car_move.views import add_event
from city_services.car_move.views import view_of
from database import end_reads
from database import transaction
from database.transaction import rows_changed
from errors import Conflict
from errors import Forbidden
from errors import NotFound
from identity.models import Resident
from identity.people import person_ids
from identity.real_name import ID_NUMBER
from identity.residents import lock_live_resident
from identity.vault import Vault

MAX_VEHICLES = 5
RETENTION = timedelta(days=7)
# Longer than any submit can take (timeouts are at most a minute, with one retry).
STALE_SUBMISSION = timedelta(minutes=5)
# answer -> the request's status after it
ANSWERS = {"moving": "acknowledged", "not_mine": "not_mine", "complaint": "complaint"}


@dataclass(frozen=True)
class VehicleView:
    """A registered vehicle, masked."""

    id: str
    city: str
    plate: str
    registered_at: datetime


def register_vehicle(
    session: Session,
    provider: CarMoveProvider,
    vault: Vault,
    owner: Resident,
    city: str,
    raw_plate: str,
    *,
    now: datetime,
) -> VehicleView:
    """Register the resident's plate once the city's system confirms by ID number that it is theirs."""
    plate = read_plate(raw_plate)
    if owner.real_name_verified_at is None or owner.id_number_sealed is None:
        raise Forbidden("car_move.real_name_required", "Verify your real name before registering a vehicle.")
    id_number = vault.open(ID_NUMBER, owner.id_number_sealed)
    end_reads(session)
    check = provider.owner_of(plate, id_number)
    if check.owner_matched is None:
        raise Conflict(
            "car_move.ownership_unverifiable",
            "This city's traffic police reach owners themselves and cannot confirm whose a car is; "
            "no registration is needed here.",
        )
    if check.registered is False:
        raise NotFound("car_move.vehicle_not_found", "The traffic police have no vehicle with this plate.")
    if not check.owner_matched:
        raise Forbidden("car_move.not_the_owner", "The traffic police do not have you as this vehicle's owner.")
    lookup = vault.lookup(PLATE_PURPOSE, plate)
    with transaction(session):
        lock_live_resident(session, owner.id)
        mine = person_ids(session, owner.id)
        count = session.scalar(
            select(func.count()).select_from(RegisteredVehicle).where(RegisteredVehicle.owner_id.in_(mine))
        )
        existing = session.scalar(
            select(RegisteredVehicle).where(RegisteredVehicle.plate_lookup == lookup).with_for_update()
        )
        if existing is not None and existing.owner_id in mine:
            return _vehicle_view(existing, plate)
        if (count or 0) >= MAX_VEHICLES:
            raise Conflict("car_move.too_many_vehicles", f"You can register at most {MAX_VEHICLES} vehicles.")
        if existing is not None:
            # The police say the car is this resident's now: the earlier owner sold it.
            session.delete(existing)
            session.flush()
        vehicle = RegisteredVehicle(
            public_id="veh_" + secrets.token_hex(8),
            owner_id=owner.id,
            city_code=city,
            plate_sealed=vault.seal(PLATE_PURPOSE, plate),
            plate_lookup=lookup,
            checked_by=provider.name,
            registered_at=now,
        )
        session.add(vehicle)
    return _vehicle_view(vehicle, plate)


def requests_about_my_vehicles(session: Session, vault: Vault, owner: Resident) -> list[RequestView]:
    """Requests that reached me as a registered owner, newest first, in the owner's view."""
    rows = session.scalars(
        select(CarMoveRequest)
        .where(CarMoveRequest.owner_id.in_(person_ids(session, owner.id)), CarMoveRequest.status != "submitting")
        .order_by(CarMoveRequest.created_at.desc(), CarMoveRequest.id.desc())
        .limit(100)
    )
    return [view_of(row, vault, OWNER, answer_to(session, row.id)) for row in rows]


def answer_request(
    session: Session, vault: Vault, owner: Resident, public_id: str, answer: str, *, now: datetime
) -> RequestView:
    """The owner says they are moving, that it is not their car, or complains of harassment; once."""
    row, role = find_request(session, owner, public_id)
    if role != OWNER:
        raise NotFound("car_move.request_not_found", "No such car-move request of yours.")
    with transaction(session):
        row = session.scalars(
            select(CarMoveRequest)
            .where(CarMoveRequest.id == row.id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).one()
        if answer_to(session, row.id) is not None:
            raise Conflict("car_move.already_answered", "You have answered this request already.")
        if row.status not in LIVE:
            raise Conflict("car_move.request_finished", "This request is finished.", {"status": row.status})
        session.add(OwnerAnswer(request_id=row.id, owner_id=owner.id, answer=answer, at=now))
        row.status, row.updated_at = ANSWERS[answer], now
        add_event(row, f"answered_{answer}", now)
    return view_of(row, vault, OWNER, answer)


def erase_car_moves(session: Session, everyone: frozenset[int], now: datetime) -> None:
    """A person's plates, locations and messages go; requests stay as counted, anonymous events."""
    plates = session.scalars(
        select(CarMoveRequest.plate_lookup).where(
            or_(CarMoveRequest.requester_id.in_(everyone), CarMoveRequest.owner_id.in_(everyone)),
            CarMoveRequest.plate_lookup.is_not(None),
        )
    ).all()
    keys = [plate_key(lookup) for lookup in plates if lookup] + [requester_key(i) for i in everyone]
    session.execute(delete(CarMoveLock).where(CarMoveLock.key.in_(keys)))
    session.execute(delete(RegisteredVehicle).where(RegisteredVehicle.owner_id.in_(everyone)))
    session.execute(
        update(CarMoveRequest)
        .where(CarMoveRequest.requester_id.in_(everyone))
        .values(plate_sealed=None, plate_lookup=None, location_sealed=None, message_sealed=None)
    )
    # Requests about the person's car keep the requester's side; the link to the owner goes.
    session.execute(
        update(CarMoveRequest)
        .where(CarMoveRequest.owner_id.in_(everyone))
        .values(owner_id=None, plate_sealed=None, plate_lookup=None)
    )
    session.execute(update(OwnerAnswer).where(OwnerAnswer.owner_id.in_(everyone)).values(owner_id=None))


def purge_locations(session: Session, now: datetime) -> int:
    """Blank the locations and messages of requests older than seven days; how many were purged."""
    cutoff = now - RETENTION
    with transaction(session):
        purged = session.execute(
            update(CarMoveRequest)
            .where(CarMoveRequest.created_at < cutoff, CarMoveRequest.location_sealed.is_not(None))
            .values(location_sealed=None, message_sealed=None)
        )
    return rows_changed(purged)


def _vehicle_view(vehicle: RegisteredVehicle, plate: str) -> VehicleView:
    return VehicleView(vehicle.public_id, vehicle.city_code, mask_plate(plate), vehicle.registered_at)


@dataclass(frozen=True)
class Swept:
    """What a sweep did."""

    purged: int
    settled: int


def sweep_car_moves(session: Session, now: datetime) -> Swept:
    """The scheduled sweep: locations purged after seven days, and requests a crash left submitting marked failed."""
    with transaction(session):
        stale = session.execute(
            update(CarMoveRequest)
            .where(CarMoveRequest.status == "submitting", CarMoveRequest.created_at < now - STALE_SUBMISSION)
            .values(status="failed", updated_at=now)
            .execution_options(synchronize_session=False)
        )
    return Swept(purged=purge_locations(session, now), settled=rows_changed(stale))
