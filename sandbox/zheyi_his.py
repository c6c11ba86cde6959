"""zheyi_his: 浙大一院's HIS, an IHE ITI Scheduling-like FHIR R4 API (find, hold, book, cancel).

Base `/upstreams/zheyi-his/fhir`. Every call but `GET metadata` carries `X-Api-Key`. Answers are
`application/fhir+json`; failures are an OperationOutcome with an HTTP status (sandbox/README.md
lists them). A hold keeps its place for `outpatient_hold_seconds`, then gives it back by itself.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request
from werkzeug.exceptions import HTTPException

from sandbox.outage import answer_down
from sandbox.outpatient import OutpatientSystem
from sandbox.outpatient import methods_elsewhere
from sandbox.outpatient import take_fault
from sandbox.outpatient_catalogue import Department
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
from sandbox.outpatient_ledger import SLOT_UNAVAILABLE
from sandbox.outpatient_ledger import Hold
from sandbox.outpatient_ledger import LedgerRefusal
from sandbox.outpatient_ledger import patient_digest
from sandbox.outpatient_query import day_parameter
from sandbox.outpatient_query import only_parameters
from sandbox.outpatient_query import patient_problem
from sandbox.world import World

TARGET = "outpatient.zheyi_his"
FHIR_JSON = "application/fhir+json; charset=utf-8"
ERROR_SYSTEM = "https://his.zy91.com/fhir/CodeSystem/error"

# ledger refusal -> (HTTP status, FHIR issue type, the HIS's error code, text)
REFUSALS = {
    SLOT_UNAVAILABLE: (409, "conflict", "SLOT_UNAVAILABLE", "号源已约满或已停止预约"),
    DUPLICATE: (409, "duplicate", "DUPLICATE_APPOINTMENT", "同一就诊人同一科室同一天只能预约一次"),
    NOT_FOUND: (404, "not-found", "APPOINTMENT_NOT_FOUND", "预约不存在"),
    HOLD_EXPIRED: (410, "expired", "HOLD_EXPIRED", "锁号已超时，号源已释放"),
    HOLD_CANCELLED: (409, "conflict", "APPOINTMENT_CANCELLED", "预约已取消"),
}
STATUS = {HELD: "pending", BOOKED: "booked", CANCELLED: "cancelled", EXPIRED: "cancelled"}
CANCELATION = {
    CANCELLED: {"coding": [{"code": "pat"}], "text": "患者取消"},
    EXPIRED: {"coding": [{"code": "hold-expired"}], "text": "锁号超时未确认"},
}


class ZheyiError(Exception):
    """A failure the HIS reports as an OperationOutcome with an HTTP status."""

    def __init__(self, status: int, issue: str, code: str, text: str, diagnostics: str | None = None) -> None:
        super().__init__(code)
        self.status, self.issue, self.code, self.text, self.diagnostics = status, issue, code, text, diagnostics


def invalid(diagnostics: str) -> ZheyiError:
    """A 400 for a malformed request; diagnostics names the part, never echoes a value."""
    return ZheyiError(400, "invalid", "INVALID_REQUEST", "请求参数错误", diagnostics)


def create_zheyi_his_blueprint(world: World) -> Blueprint:
    """Routes of the zheyi_his FHIR API under /upstreams/zheyi-his."""
    system = world.outpatient.zheyi_his
    bp = Blueprint("zheyi_his", __name__, url_prefix="/upstreams/zheyi-his")

    @bp.errorhandler(ZheyiError)
    def refused(error: ZheyiError) -> Response:
        return operation_outcome(error)

    @bp.errorhandler(HTTPException)
    def http_error(error: HTTPException) -> Response:
        status = error.code or 500
        return operation_outcome(ZheyiError(status, "processing", "HTTP_ERROR", error.name, error.description))

    @bp.before_request
    def gate() -> Response | None:
        effect = take_fault(world.faults, TARGET)
        if effect is not None and effect.mode == "down":
            return answer_down(effect)
        if effect is not None:
            raise ZheyiError(500, "exception", "HIS_ERROR", "系统繁忙，请稍后再试")
        if request.endpoint != "zheyi_his.metadata":
            given = request.headers.get("X-Api-Key", "").encode("utf-8", "replace")
            if not hmac.compare_digest(given, world.outpatient.credentials.zheyi_api_key.encode()):
                raise ZheyiError(401, "login", "UNAUTHORIZED", "API Key 缺失或无效")
        return None

    @bp.get("/fhir/metadata")
    def metadata() -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(
            {
                "resourceType": "CapabilityStatement",
                "status": "active",
                "kind": "instance",
                "fhirVersion": "4.0.1",
                "format": ["application/fhir+json"],
                "software": {"name": "ZheYi HIS (sandbox)"},
            }
        )

    @bp.get("/fhir/Organization")
    def organizations() -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(bundle([organization(h) for h in system.catalogue.hospitals]))

    @bp.get("/fhir/HealthcareService")
    def services() -> Response:
        query = only_parameters(request.args, ("organization",), invalid)
        hospitals = system.catalogue.hospitals
        if "organization" in query:
            hospital = system.catalogue.hospital(query["organization"])
            if hospital is None:
                raise ZheyiError(404, "not-found", "ORGANIZATION_NOT_FOUND", "医院不存在")
            hospitals = (hospital,)
        return fhir(bundle([service(h, d) for h in hospitals for d in h.departments]))

    @bp.get("/fhir/Slot")
    def slots() -> Response:
        query = only_parameters(request.args, ("service", "date"), invalid)
        if "service" not in query:
            raise invalid("service is required")
        hospital, department = find_service(system, query["service"])
        day = day_parameter(query.get("date"), invalid)
        found = system.catalogue.slots(hospital, department, day)
        return fhir(bundle([slot_resource(system, slot) for slot in found]))

    @bp.get("/fhir/Slot/<slot_id>")
    def one_slot(slot_id: str) -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(slot_resource(system, find_slot(system, slot_id)))

    @bp.post("/fhir/Appointment/$hold")
    def hold() -> tuple[Response, int]:
        body = json_object()
        unknown = sorted(set(body) - {"slot", "patient"})
        if unknown:
            raise invalid(f"unknown fields: {', '.join(unknown)}")
        slot_id, patient = body.get("slot"), body.get("patient")
        if not isinstance(slot_id, str):
            raise invalid("slot must be a Slot id (string)")
        if not isinstance(patient, dict):
            raise invalid("patient must be an object {name, idNumber, phone?}")
        problem = patient_problem(patient, {"name": "name", "id_number": "idNumber", "phone": "phone"})
        if problem is not None:
            raise invalid(f"patient.{problem}")
        slot = find_slot(system, slot_id)
        try:
            taken = system.ledger.hold(slot, patient_digest(patient["idNumber"]))
        except LedgerRefusal as refusal:
            raise refusal_error(refusal) from None
        return fhir(appointment(taken)), 201

    @bp.post("/fhir/Appointment/<appointment_id>/$book")
    def book(appointment_id: str) -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(appointment(change(system.ledger.book, appointment_id)))

    @bp.post("/fhir/Appointment/<appointment_id>/$cancel")
    def cancel(appointment_id: str) -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(appointment(change(system.ledger.cancel, appointment_id)))

    @bp.get("/fhir/Appointment/<appointment_id>")
    def read_appointment(appointment_id: str) -> Response:
        only_parameters(request.args, (), invalid)
        return fhir(appointment(change(system.ledger.look_up, appointment_id)))

    @bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def elsewhere(rest: str) -> Response:
        allowed = methods_elsewhere("zheyi_his.elsewhere")
        if allowed:
            answer = operation_outcome(ZheyiError(405, "not-supported", "METHOD_NOT_ALLOWED", "不支持的请求方法"))
            answer.headers["Allow"] = ", ".join(allowed)
            return answer
        raise ZheyiError(404, "not-supported", "NOT_FOUND", "接口不存在")

    return bp


def change(action: Callable[[str], Hold], appointment_id: str) -> Hold:
    """Run a ledger action on an appointment, answering its refusals as the HIS does."""
    try:
        return action(appointment_id)
    except LedgerRefusal as refusal:
        raise refusal_error(refusal) from None


def refusal_error(refusal: LedgerRefusal) -> ZheyiError:
    """The HIS's answer to a ledger refusal."""
    status, issue, code, text = REFUSALS[refusal.reason]
    return ZheyiError(status, issue, code, text)


def find_service(system: OutpatientSystem, service_id: str) -> tuple[Hospital, Department]:
    """The hospital and department a HealthcareService id (ZY01-XHNK) names, or a 404."""
    hospital_code, _, department_code = service_id.partition("-")
    hospital = system.catalogue.hospital(hospital_code)
    department = hospital.department(department_code) if hospital is not None else None
    if hospital is None or department is None:
        raise ZheyiError(404, "not-found", "SERVICE_NOT_FOUND", "科室不存在")
    return hospital, department


def find_slot(system: OutpatientSystem, slot_id: str) -> Slot:
    """The slot with this id, or a 404."""
    slot = system.catalogue.slot(slot_id)
    if slot is None:
        raise ZheyiError(404, "not-found", "SLOT_NOT_FOUND", "号源不存在")
    return slot


def json_object() -> dict[str, Any]:
    """The request body as a JSON object, or a 400."""
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        raise invalid("the body must be a JSON object") from None
    if not isinstance(body, dict):
        raise invalid("the body must be a JSON object")
    return body


def organization(hospital: Hospital) -> dict[str, Any]:
    """A hospital as a FHIR Organization."""
    return {
        "resourceType": "Organization",
        "id": hospital.code,
        "name": hospital.name,
        "alias": ["浙大一院"],
        "extension": [{"url": "level", "valueString": hospital.level}],
        "address": [{"city": "杭州市", "district": hospital.district}],
    }


def service(hospital: Hospital, department: Department) -> dict[str, Any]:
    """A department as a FHIR HealthcareService; its id is <Organization id>-<department code>."""
    return {
        "resourceType": "HealthcareService",
        "id": f"{hospital.code}-{department.code}",
        "providedBy": {"reference": f"Organization/{hospital.code}", "display": hospital.name},
        "name": department.name,
    }


def slot_resource(system: OutpatientSystem, slot: Slot) -> dict[str, Any]:
    """A slot as a FHIR Slot, with the HIS's plain extra fields (practitioner, feeFen, capacity, remaining)."""
    remaining = system.ledger.remaining(slot)
    return {
        "resourceType": "Slot",
        "id": slot.slot_id,
        **_where_and_who(slot),
        "status": "free" if remaining > 0 else "busy",
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "feeFen": slot.fee,
        "capacity": slot.capacity,
        "remaining": remaining,
    }


def appointment(hold: Hold) -> dict[str, Any]:
    """A hold or booking as a FHIR Appointment."""
    slot = hold.slot
    body: dict[str, Any] = {
        "resourceType": "Appointment",
        "id": hold.hold_id,
        "status": STATUS[hold.state],
        "slot": [{"reference": f"Slot/{slot.slot_id}"}],
        **_where_and_who(slot),
        "start": slot.start.isoformat(),
        "end": slot.end.isoformat(),
        "feeFen": slot.fee,
        "created": beijing_time(hold.created_at),
    }
    if hold.state == HELD:
        body["holdExpiresAt"] = beijing_time(hold.expires_at)
    if hold.state in CANCELATION:
        body["cancelationReason"] = CANCELATION[hold.state]
    return body


def bundle(resources: list[dict[str, Any]]) -> dict[str, Any]:
    """A searchset Bundle."""
    return {"resourceType": "Bundle", "type": "searchset", "total": len(resources), "entry": _entries(resources)}


def fhir(resource: dict[str, Any]) -> Response:
    """A FHIR JSON answer."""
    return Response(json.dumps(resource, ensure_ascii=False), content_type=FHIR_JSON)


def operation_outcome(error: ZheyiError) -> Response:
    """The HIS's error answer."""
    issue: dict[str, Any] = {
        "severity": "error",
        "code": error.issue,
        "details": {"coding": [{"system": ERROR_SYSTEM, "code": error.code}], "text": error.text},
    }
    if error.diagnostics:
        issue["diagnostics"] = error.diagnostics
    answer = fhir({"resourceType": "OperationOutcome", "issue": [issue]})
    answer.status_code = error.status
    return answer


def _where_and_who(slot: Slot) -> dict[str, Any]:
    return {
        "organization": {"reference": f"Organization/{slot.hospital.code}", "display": slot.hospital.name},
        "service": {
            "reference": f"HealthcareService/{slot.hospital.code}-{slot.department.code}",
            "display": slot.department.name,
        },
        "practitioner": {"id": slot.doctor.code, "name": slot.doctor.name, "title": slot.doctor.title},
    }


def _entries(resources: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"fullUrl": f"{resource['resourceType']}/{resource['id']}", "resource": resource} for resource in resources]
