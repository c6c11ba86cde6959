"""shenzhen_health_platform: the 健康深圳 hospital platform, signed requests (sandbox/shenzhen_health_wire.py).

Every action is `POST /upstreams/shenzhen-health/open/v1/<action>`. An order for a paid slot holds
it as PENDING_PAYMENT until confirmed or until `outpatient_order_seconds` pass (then EXPIRED and
the place is back); an order for a free slot (amount 0) is CONFIRMED at once. `out_order_no` makes
a submission safe to retry: the same number for the same schedule and patient returns the same order.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint
from flask import Response
from werkzeug.exceptions import HTTPException

from sandbox.outage import answer_down
from sandbox.outpatient import OutpatientSystem
from sandbox.outpatient import take_fault
from sandbox.outpatient_catalogue import Hospital
from sandbox.outpatient_catalogue import Slot
from sandbox.outpatient_catalogue import beijing_time
from sandbox.outpatient_ledger import BOOKED
from sandbox.outpatient_ledger import CANCELLED
from sandbox.outpatient_ledger import DUPLICATE
from sandbox.outpatient_ledger import EXPIRED
from sandbox.outpatient_ledger import HELD
from sandbox.outpatient_ledger import HOLD_CANCELLED
from sandbox.outpatient_ledger import HOLD_EXPIRED
from sandbox.outpatient_ledger import NOT_FOUND
from sandbox.outpatient_ledger import REFERENCE_TAKEN
from sandbox.outpatient_ledger import SLOT_UNAVAILABLE
from sandbox.outpatient_ledger import Hold
from sandbox.outpatient_ledger import LedgerRefusal
from sandbox.outpatient_ledger import patient_digest
from sandbox.outpatient_query import day_parameter
from sandbox.outpatient_query import patient_problem
from sandbox.shenzhen_health_wire import PlatformError
from sandbox.shenzhen_health_wire import answer
from sandbox.shenzhen_health_wire import business_params
from sandbox.shenzhen_health_wire import error_answer
from sandbox.shenzhen_health_wire import signed_params
from sandbox.world import World

TARGET = "outpatient.shenzhen_health_platform"
OUT_ORDER_NO = re.compile(r"[A-Za-z0-9_-]{6,32}")
REFUSALS = {
    SLOT_UNAVAILABLE: "3001",
    DUPLICATE: "3002",
    NOT_FOUND: "2004",
    HOLD_EXPIRED: "3003",
    HOLD_CANCELLED: "3004",
    REFERENCE_TAKEN: "3005",
}
ORDER_STATUS = {HELD: "PENDING_PAYMENT", BOOKED: "CONFIRMED", CANCELLED: "CANCELLED", EXPIRED: "EXPIRED"}
PATIENT_FIELDS = {"name": "patient_name", "id_number": "patient_id_number", "phone": "patient_phone"}

Action = Callable[[OutpatientSystem, dict[str, str]], Any]


def create_shenzhen_health_blueprint(world: World) -> Blueprint:
    """Routes of the platform under /upstreams/shenzhen-health."""
    system = world.outpatient.shenzhen_health_platform
    bp = Blueprint("shenzhen_health", __name__, url_prefix="/upstreams/shenzhen-health")
    bp.register_error_handler(PlatformError, error_answer)

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        return error_answer(PlatformError("1001", error.name, status=error.code or 400))

    @bp.before_request
    def gate() -> Response | None:
        effect = take_fault(world.faults, TARGET)
        if effect is not None and effect.mode == "down":
            return answer_down(effect)
        if effect is not None:
            raise PlatformError(str(effect.errcode) if effect.errcode is not None else "9999")
        return None

    @bp.post("/open/v1/<path:action>")
    def act(action: str) -> Response:
        if action not in ACTIONS:
            raise PlatformError("1006", status=404)
        params = signed_params(world.outpatient)
        return answer(ACTIONS[action](system, params))

    @bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def elsewhere(rest: str) -> Response:
        if rest.startswith("open/v1/") and rest.removeprefix("open/v1/") in ACTIONS:
            response = error_answer(PlatformError("1007", status=405))
            response.headers["Allow"] = "POST"
            return response
        raise PlatformError("1006", status=404)

    return bp


def list_hospitals(system: OutpatientSystem, params: dict[str, str]) -> list[dict[str, Any]]:
    """hospital/list: every hospital on the platform."""
    business_params(params, ())
    return [
        {"hos_code": h.code, "hos_name": h.name, "level": h.level, "city": "深圳市", "district": h.district}
        for h in system.catalogue.hospitals
    ]


def list_departments(system: OutpatientSystem, params: dict[str, str]) -> list[dict[str, Any]]:
    """department/list {hos_code}: the hospital's departments."""
    hospital = _hospital(system, business_params(params, ("hos_code",))["hos_code"])
    return [{"hos_code": hospital.code, "dep_code": d.code, "dep_name": d.name} for d in hospital.departments]


def list_schedules(system: OutpatientSystem, params: dict[str, str]) -> list[dict[str, Any]]:
    """schedule/list {hos_code, dep_code, work_date?}: bookable schedules, the whole week without a date."""
    given = business_params(params, ("hos_code", "dep_code"), ("work_date",))
    hospital = _hospital(system, given["hos_code"])
    department = hospital.department(given["dep_code"])
    if department is None:
        raise PlatformError("2002")
    day: date | None = day_parameter(given.get("work_date"), lambda why: PlatformError("1001", f"work_date {why}"))
    return [_schedule(system, slot) for slot in system.catalogue.slots(hospital, department, day)]


def submit_order(system: OutpatientSystem, params: dict[str, str]) -> dict[str, Any]:
    """order/submit: take a place for a patient; PENDING_PAYMENT (or CONFIRMED when free)."""
    given = business_params(
        params, ("schedule_id", "out_order_no", "patient_name", "patient_id_number"), ("patient_phone",)
    )
    if not OUT_ORDER_NO.fullmatch(given["out_order_no"]):
        raise PlatformError("1001", f"out_order_no 应匹配 {OUT_ORDER_NO.pattern}")
    problem = patient_problem({k: v for k, v in given.items() if k.startswith("patient_")}, PATIENT_FIELDS)
    if problem is not None:
        raise PlatformError("1001", problem)
    slot = system.catalogue.slot(given["schedule_id"])
    if slot is None:
        raise PlatformError("2003")
    patient = patient_digest(given["patient_id_number"])
    return _order(_settle(lambda: system.ledger.hold(slot, patient, given["out_order_no"], settled=slot.fee == 0)))


def confirm_order(system: OutpatientSystem, params: dict[str, str]) -> dict[str, Any]:
    """order/confirm {order_no}: the patient paid; the order keeps its place for good."""
    order_no = business_params(params, ("order_no",))["order_no"]
    return _order(_settle(lambda: system.ledger.book(order_no)))


def cancel_order(system: OutpatientSystem, params: dict[str, str]) -> dict[str, Any]:
    """order/cancel {order_no}: give the place back (cancelling twice is the same as once)."""
    order_no = business_params(params, ("order_no",))["order_no"]
    return _order(_settle(lambda: system.ledger.cancel(order_no)))


def query_order(system: OutpatientSystem, params: dict[str, str]) -> dict[str, Any]:
    """order/query {order_no}: the order as it stands."""
    order_no = business_params(params, ("order_no",))["order_no"]
    return _order(_settle(lambda: system.ledger.look_up(order_no)))


# action path -> handler
ACTIONS: dict[str, Action] = {
    "hospital/list": list_hospitals,
    "department/list": list_departments,
    "schedule/list": list_schedules,
    "order/submit": submit_order,
    "order/confirm": confirm_order,
    "order/cancel": cancel_order,
    "order/query": query_order,
}


def _hospital(system: OutpatientSystem, code: str) -> Hospital:
    hospital = system.catalogue.hospital(code)
    if hospital is None:
        raise PlatformError("2001")
    return hospital


def _settle(change: Callable[[], Hold]) -> Hold:
    try:
        return change()
    except LedgerRefusal as refusal:
        raise PlatformError(REFUSALS[refusal.reason]) from None


def _schedule(system: OutpatientSystem, slot: Slot) -> dict[str, Any]:
    available = system.ledger.remaining(slot)
    return {
        "schedule_id": slot.slot_id,
        **_where_and_who(slot),
        "amount": slot.fee,
        "reserved_number": slot.capacity,
        "available_number": available,
        "status": "AVAILABLE" if available > 0 else "FULL",
    }


def _order(hold: Hold) -> dict[str, Any]:
    return {
        "order_no": hold.hold_id,
        "out_order_no": hold.reference,
        "schedule_id": hold.slot.slot_id,
        **_where_and_who(hold.slot),
        "amount": hold.slot.fee,
        "status": ORDER_STATUS[hold.state],
        "create_time": _local(hold.created_at),
        "expire_time": _local(hold.expires_at),
        "confirm_time": _local(hold.closed_at) if hold.state == BOOKED else None,
        "cancel_time": _local(hold.closed_at) if hold.state == CANCELLED else None,
    }


def _where_and_who(slot: Slot) -> dict[str, Any]:
    return {
        "hos_code": slot.hospital.code,
        "hos_name": slot.hospital.name,
        "dep_code": slot.department.code,
        "dep_name": slot.department.name,
        "doctor_code": slot.doctor.code,
        "doctor_name": slot.doctor.name,
        "doctor_title": slot.doctor.title,
        "work_date": slot.start.strftime("%Y-%m-%d"),
        "begin_time": slot.start.strftime("%H:%M"),
        "end_time": slot.end.strftime("%H:%M"),
    }


def _local(moment: float | None) -> str | None:
    # The platform prints Beijing time without an offset, as 2025-01-02 08:00:00.
    text = beijing_time(moment)
    return None if text is None else text[:19].replace("T", " ")
