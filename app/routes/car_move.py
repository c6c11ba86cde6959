"""Car move (一键挪车): ask a driver to move their car, follow and nudge the request; owners register and answer."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.car_move import AnswerSchema
from app.schemas.car_move import CarMoveRequestListSchema
from app.schemas.car_move import CarMoveRequestSchema
from app.schemas.car_move import NewCarMoveRequestSchema
from app.schemas.car_move import NewVehicleSchema
from app.schemas.car_move import VehicleSchema
from app.service_calls import GATE_ERRORS
from app.service_calls import open_city_service
from app.service_calls import session_channel
from city_services.car_move import owners
from city_services.car_move import service
from city_services.car_move.provider import CarMoveProvider
from city_services.car_move.service import NewRequest
from city_services.car_move.service import NotifyOwner
from city_services.car_move.views import RequestView
from identity.residents import SignedIn

blueprint = Blueprint("car_move", __name__, url_prefix="/api/v1")
CAR_MOVE = "car_move"
OWNER_NOTICE = "car_move_owner"
UPSTREAM_ANSWERS = ("car_move.vehicle_not_found", "car_move.police_monthly_limit", "car_move.plate_refused")


@blueprint.post("/cities/<city>/car-move-requests")
@operation(
    summary="Ask the driver of a car to move it; the city's traffic police or citytiles tells the owner",
    tag="car_move",
    body=NewCarMoveRequestSchema,
    response=CarMoveRequestSchema(),
    status=201,
    auth="resident",
    errors=(
        *GATE_ERRORS,
        *UPSTREAM_ANSWERS,
        "car_move.invalid_plate",
        "car_move.monthly_quota_exceeded",
        "car_move.plate_cooling_down",
        "car_move.owner_complained",
    ),
)
def create_car_move_request(city: str, signed_in: SignedIn, payload: NewRequest) -> RequestView:
    """At most 5 a month per requester and one live request per plate per 10 minutes, unless the city says otherwise."""
    provider = open_city_service(signed_in, city, CAR_MOVE)
    return service.ask_to_move(
        get_session(),
        provider,
        current_app.extensions["vault"],
        signed_in.resident,
        city,
        payload,
        notify_owner=owner_notifier(),
        now=current_app.extensions["clock"](),
        channel=session_channel(signed_in),
    )


@blueprint.get("/car-move-requests/<request_id>")
@operation(
    summary="A car-move request and its timeline: for its requester, or (reduced) for the car's registered owner",
    tag="car_move",
    response=CarMoveRequestSchema(),
    auth="resident",
    errors=("car_move.request_not_found",),
)
def get_car_move_request(request_id: str, signed_in: SignedIn) -> RequestView:
    """The requester's view is refreshed from a traffic-police system that reaches owners itself."""
    return service.show_request(
        get_session(),
        current_app.extensions["vault"],
        signed_in.resident,
        request_id,
        provider_for=provider_of_city,
        now=current_app.extensions["clock"](),
    )


@blueprint.post("/car-move-requests/<request_id>/nudge")
@operation(
    summary="Remind the owner (催单), ten minutes after the request or the last reminder at the soonest",
    tag="car_move",
    response=CarMoveRequestSchema(),
    auth="resident",
    errors=(*GATE_ERRORS, "car_move.request_not_found", "car_move.request_finished", "car_move.nudge_too_early"),
)
def nudge_car_move_request(request_id: str, signed_in: SignedIn) -> RequestView:
    """Too early is 429 with Retry-After."""
    row, _role = service.find_request(get_session(), signed_in.resident, request_id)
    provider = open_city_service(signed_in, row.city_code, CAR_MOVE)
    return service.nudge(
        get_session(),
        provider,
        current_app.extensions["vault"],
        signed_in.resident,
        request_id,
        notify_owner=owner_notifier(),
        now=current_app.extensions["clock"](),
    )


@blueprint.post("/car-move-requests/<request_id>/cancel")
@operation(
    summary="Withdraw my car-move request",
    tag="car_move",
    response=CarMoveRequestSchema(),
    auth="resident",
    errors=(
        *GATE_ERRORS,
        "car_move.request_not_found",
        "car_move.request_finished",
        "car_move.ticket_not_found",
        "car_move.system_changed",
    ),
)
def cancel_car_move_request(request_id: str, signed_in: SignedIn) -> RequestView:
    """A request already finished is 409."""
    row, _role = service.find_request(get_session(), signed_in.resident, request_id)
    provider = open_city_service(signed_in, row.city_code, CAR_MOVE)
    return service.cancel(
        get_session(),
        provider,
        current_app.extensions["vault"],
        signed_in.resident,
        request_id,
        now=current_app.extensions["clock"](),
    )


@blueprint.post("/car-move-requests/<request_id>/answer")
@operation(
    summary="As the car's registered owner, answer a request: moving, not_mine or complaint",
    tag="car_move",
    body=AnswerSchema,
    response=CarMoveRequestSchema(),
    auth="resident",
    errors=("car_move.request_not_found", "car_move.request_finished", "car_move.already_answered"),
)
def answer_car_move_request(request_id: str, signed_in: SignedIn, payload: dict[str, str]) -> RequestView:
    """Only the owner; the requester sees the answer in the timeline."""
    return owners.answer_request(
        get_session(),
        current_app.extensions["vault"],
        signed_in.resident,
        request_id,
        payload["answer"],
        now=current_app.extensions["clock"](),
    )


@blueprint.post("/me/vehicles")
@operation(
    summary="Register my plate so car-move requests reach me in my channel; the traffic police confirm it is mine",
    tag="car_move",
    body=NewVehicleSchema,
    response=VehicleSchema(),
    status=201,
    auth="resident",
    errors=(
        *GATE_ERRORS,
        "car_move.invalid_plate",
        "car_move.real_name_required",
        "car_move.ownership_unverifiable",
        "car_move.vehicle_not_found",
        "car_move.not_the_owner",
        "car_move.too_many_vehicles",
        "car_move.plate_refused",
        "identity.resident_changed",
    ),
)
def register_my_vehicle(signed_in: SignedIn, payload: dict[str, str]) -> owners.VehicleView:
    """Real name verified first; the ID number is opened only for the traffic police's check."""
    provider = open_city_service(signed_in, payload["city"], CAR_MOVE)
    return owners.register_vehicle(
        get_session(),
        provider,
        current_app.extensions["vault"],
        signed_in.resident,
        payload["city"],
        payload["plate"],
        now=current_app.extensions["clock"](),
    )


@blueprint.get("/me/car-move-requests")
@operation(
    summary="Car-move requests about my registered vehicles, newest first",
    tag="car_move",
    response=CarMoveRequestListSchema(),
    auth="resident",
)
def my_car_move_requests(signed_in: SignedIn) -> dict[str, Any]:
    """The owner's reduced view of each."""
    found = owners.requests_about_my_vehicles(get_session(), current_app.extensions["vault"], signed_in.resident)
    return {"requests": found}


@blueprint.get("/me/sent-car-move-requests")
@operation(
    summary="The car-move requests I made (in the mini-program or by chat), newest first",
    tag="car_move",
    response=CarMoveRequestListSchema(),
    auth="resident",
)
def my_sent_car_move_requests(signed_in: SignedIn) -> dict[str, Any]:
    """The requester's view of each; refresh one with GET /car-move-requests/<id>."""
    found = service.my_requests(get_session(), current_app.extensions["vault"], signed_in.resident)
    return {"requests": found}


def provider_of_city(city: str) -> CarMoveProvider:
    """The city's car-move adapter, without the tile gate: looking at a request needs no open tile."""
    provider: CarMoveProvider = current_app.extensions["upstreams"].provider(get_session(), city, CAR_MOVE)
    return provider


def owner_notifier() -> NotifyOwner:
    """How to tell a registered owner: a car_move_owner notice through a channel account holding a credit."""
    notices = current_app.extensions["notices"]
    session, now = get_session(), current_app.extensions["clock"]()

    def notify(resident_id: int, fields: dict[str, str]) -> bool:
        """One notice; False when no account of the owner's has a credit or the channel refused it."""
        told: bool = notices.send(session, resident_id, OWNER_NOTICE, fields, now=now)
        return told

    return notify
