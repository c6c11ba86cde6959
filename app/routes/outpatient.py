"""Outpatient appointments (预约挂号): search a city's hospitals and schedules, hold, read and cancel."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.fulfilment import notify_url
from app.operations import operation
from app.schemas.outpatient import AppointmentSchema
from app.schemas.outpatient import AppointmentsSchema
from app.schemas.outpatient import DepartmentsSchema
from app.schemas.outpatient import HoldRequestSchema
from app.schemas.outpatient import HospitalsSchema
from app.schemas.outpatient import SchedulesQuerySchema
from app.schemas.outpatient import SchedulesSchema
from app.service_calls import GATE_ERRORS
from app.service_calls import open_city_service
from app.service_calls import session_channel
from billing.gateway import PaymentGateway
from billing.models import Payment
from city_services.outpatient import models
from city_services.outpatient import service
from city_services.outpatient.fees import cancel_paid_appointment
from city_services.outpatient.fees import fee_payment_id
from city_services.outpatient.fees import open_fee
from city_services.outpatient.service import AppointmentView
from city_services.outpatient.service import SlotChoice
from errors import DomainError
from identity.residents import SignedIn

blueprint = Blueprint("outpatient", __name__, url_prefix="/api/v1")
SERVICE = "outpatient"
SEARCH_ERRORS = (*GATE_ERRORS, "outpatient.hospital_not_found")
HOLD_ERRORS = (
    *GATE_ERRORS,
    "outpatient.real_name_required",
    "outpatient.hospital_not_found",
    "outpatient.department_not_found",
    "outpatient.slot_not_found",
    "outpatient.slot_unavailable",
    "outpatient.duplicate_appointment",
    "outpatient.patient_refused",
    "outpatient.one_per_department_per_day",
    "outpatient.weekly_limit_reached",
    "outpatient.hold_expired",
    "outpatient.hold_not_found",
    "identity.resident_changed",
    "billing.channel_unavailable",
)
CANCEL_ERRORS = (
    *GATE_ERRORS,
    "outpatient.appointment_not_found",
    "outpatient.hold_expired",
    "outpatient.hold_not_found",
    "outpatient.system_changed",
    "outpatient.past_cancel_cutoff",
    "billing.channel_unavailable",
)


@blueprint.get("/cities/<city>/hospitals")
@operation(
    summary="The city's hospitals that book outpatient appointments",
    tag="outpatient",
    response=HospitalsSchema(),
    auth="resident",
    errors=GATE_ERRORS,
)
def list_hospitals(signed_in: SignedIn, city: str) -> dict[str, Any]:
    """Through the city's hospital platform."""
    provider = open_city_service(signed_in, city, SERVICE)
    return {"city": city, "hospitals": service.hospitals(provider)}


@blueprint.get("/cities/<city>/hospitals/<hospital_id>/departments")
@operation(
    summary="A hospital's departments",
    tag="outpatient",
    response=DepartmentsSchema(),
    auth="resident",
    errors=SEARCH_ERRORS,
)
def list_departments(signed_in: SignedIn, city: str, hospital_id: str) -> dict[str, Any]:
    """An unknown hospital is a 404."""
    provider = open_city_service(signed_in, city, SERVICE)
    return {"hospital_id": hospital_id, "departments": service.departments(provider, hospital_id)}


@blueprint.get("/cities/<city>/hospitals/<hospital_id>/departments/<department_id>/schedules")
@operation(
    summary="A department's slots on one day (today to six days on, Beijing time): doctor, time, fee_fen, remaining",
    tag="outpatient",
    query=SchedulesQuerySchema,
    response=SchedulesSchema(),
    auth="resident",
    errors=(*SEARCH_ERRORS, "outpatient.department_not_found", "outpatient.date_out_of_range"),
)
def list_schedules(
    signed_in: SignedIn, params: dict[str, date], city: str, hospital_id: str, department_id: str
) -> dict[str, Any]:
    """Asked fresh each time: places change by the second."""
    provider = open_city_service(signed_in, city, SERVICE)
    day = params["date"]
    slots = service.schedules(provider, hospital_id, department_id, day, current_app.extensions["clock"]())
    return {"hospital_id": hospital_id, "department_id": department_id, "date": day, "slots": slots}


@blueprint.post("/appointments")
@operation(
    summary="Hold a slot: held until expires_at while the fee is unpaid, confirmed at once when free",
    tag="outpatient",
    body=HoldRequestSchema,
    response=AppointmentSchema(),
    status=201,
    auth="resident",
    errors=HOLD_ERRORS,
    idempotent=True,
)
def hold(signed_in: SignedIn, payload: SlotChoice) -> AppointmentView:
    """Needs a verified real name; one per department per day, and a weekly limit."""
    provider = open_city_service(signed_in, payload.city, SERVICE)
    session, clock = get_session(), current_app.extensions["clock"]
    held = service.hold_slot(
        session,
        provider,
        signed_in.resident,
        payload,
        channel=session_channel(signed_in),
        vault=current_app.extensions["vault"],
        weekly_limit=current_app.extensions["settings"].outpatient_weekly_limit,
        clock=clock,
    )
    app_id = signed_in.identity.app_id if signed_in.identity is not None else ""
    gateway = current_app.extensions["channels"].payments.get(app_id)
    if held.status != models.HELD or held.fee_fen == 0 or gateway is None:
        # Without a merchant for this app the place stays held unpaid until it lapses (pay at the hospital).
        return held
    try:
        payment = _open_fee(signed_in, gateway, held)
    except DomainError:
        # No payment, no hold: the place goes back rather than stay held for a fee no one can pay.
        service.cancel_appointment(session, provider, signed_in.resident, held.id, clock)
        raise
    return replace(held, payment_id=payment.public_id)


def _open_fee(signed_in: SignedIn, gateway: PaymentGateway, held: AppointmentView) -> Payment:
    """The held place's payment, at the merchant of the app the resident came through."""
    identity = signed_in.identity
    assert identity is not None  # hold_slot asked for the session's channel already
    return open_fee(
        get_session(),
        gateway,
        held,
        signed_in.resident.id,
        identity.app_id,
        identity.external_id,
        notify_url(current_app.extensions["settings"].public_url, gateway),
        current_app.extensions["clock"],
    )


@blueprint.get("/appointments/<appointment_id>")
@operation(
    summary="One of my appointments, its status as of now",
    tag="outpatient",
    response=AppointmentSchema(),
    auth="resident",
    errors=("outpatient.appointment_not_found",),
)
def read_appointment(signed_in: SignedIn, appointment_id: str) -> AppointmentView:
    """Another resident's appointment is not found."""
    found = service.appointment(get_session(), signed_in.resident, appointment_id, current_app.extensions["clock"]())
    return replace(found, payment_id=fee_payment_id(get_session(), found.id))


@blueprint.post("/appointments/<appointment_id>/cancel")
@operation(
    summary="Cancel my appointment and give its place back (cancelling twice answers the same)",
    tag="outpatient",
    response=AppointmentSchema(),
    auth="resident",
    errors=CANCEL_ERRORS,
    idempotent=True,
)
def cancel(signed_in: SignedIn, appointment_id: str) -> AppointmentView:
    """Through the platform of the appointment's city."""
    session = get_session()
    city = service.appointment_city(session, signed_in.resident, appointment_id)
    provider = open_city_service(signed_in, city, SERVICE)
    desk = current_app.extensions["fee_desk"]
    cancelled = cancel_paid_appointment(session, desk, provider, signed_in.resident, appointment_id)
    current_app.extensions["tasks"].kick()  # the refund's notice, and the refund itself if the channel was away
    return replace(cancelled, payment_id=fee_payment_id(session, cancelled.id))


@blueprint.get("/me/appointments")
@operation(
    summary="My appointments, newest first",
    tag="outpatient",
    response=AppointmentsSchema(),
    auth="resident",
)
def my_appointments(signed_in: SignedIn) -> dict[str, Any]:
    """Held places past their time show as expired."""
    appointments = service.my_appointments(get_session(), signed_in.resident, current_app.extensions["clock"]())
    return {"appointments": appointments}
