"""The Zhejiang University First Hospital group's HIS (浙大一院): FHIR R4, IHE-scheduling-like.

Organizations are hospitals, HealthcareServices departments (id `<organization>-<code>`), Slots an
hour of a doctor; `Appointment/$hold` takes a place until `holdExpiresAt`, `$book` confirms it and
`$cancel` gives it back. Every request carries the API key in `X-Api-Key`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any
from typing import TypeVar

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.outpatient import provider as port
from city_services.outpatient.answers import LONGEST_NAME
from city_services.outpatient.answers import Unreadable
from city_services.outpatient.answers import items
from city_services.outpatient.answers import json_of
from city_services.outpatient.answers import mapping
from city_services.outpatient.answers import moment
from city_services.outpatient.answers import optional_text
from city_services.outpatient.answers import reading
from city_services.outpatient.answers import record_of
from city_services.outpatient.answers import text
from city_services.outpatient.answers import whole
from city_services.outpatient.provider import Department
from city_services.outpatient.provider import Hold
from city_services.outpatient.provider import Hospital
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from city_services.outpatient.search_cache import SearchCache
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from outbound.http import http_session

T = TypeVar("T")
FHIR_JSON = "application/fhir+json"
# The HIS's error codes that are final answers, as ours.
REJECTIONS = {
    "ORGANIZATION_NOT_FOUND": lambda: port.not_found(port.HOSPITAL_NOT_FOUND, "hospital"),
    "SERVICE_NOT_FOUND": lambda: port.not_found(port.DEPARTMENT_NOT_FOUND, "department"),
    "SLOT_NOT_FOUND": lambda: port.not_found(port.SLOT_NOT_FOUND, "slot"),
    "APPOINTMENT_NOT_FOUND": lambda: port.not_found(port.HOLD_NOT_FOUND, "appointment"),
    "SLOT_UNAVAILABLE": lambda: port.refused(port.SLOT_UNAVAILABLE, port.SLOT_GONE_MESSAGE),
    "DUPLICATE_APPOINTMENT": lambda: port.refused(port.DUPLICATE, port.DUPLICATE_MESSAGE),
    "HOLD_EXPIRED": lambda: port.refused(port.HOLD_EXPIRED, port.EXPIRED_MESSAGE),
    "APPOINTMENT_CANCELLED": lambda: port.refused(port.HOLD_CANCELLED, port.CANCELLED_MESSAGE),
    "INVALID_REQUEST": lambda: UpstreamRejected(
        port.PATIENT_REFUSED, "The hospital refused the patient's details as registered.", kind="invalid"
    ),
}
# FHIR Appointment.status as our hold statuses; an expired hold reads "cancelled" with its reason.
STATUSES = {"pending": port.HELD, "booked": port.CONFIRMED, "cancelled": port.CANCELLED}


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the HIS's FHIR base is (…/fhir) and the variable holding the API key."""

    api_key_env: str = secret_variable(example="ZHEYI_HIS_API_KEY")

    def connect(self, link: UpstreamLink) -> ZheyiHis:
        """The adapter over this connection."""
        return ZheyiHis(self, link)


class ZheyiHis:
    """zheyi_his as an OutpatientProvider."""

    def __init__(self, params: Params, link: UpstreamLink) -> None:
        self.params = params
        self.link = link
        self.http = http_session(params.max_concurrent_calls)
        self.search = SearchCache()

    def hospitals(self) -> list[Hospital]:
        """GET Organization."""
        return self.search.remember(
            "hospitals", lambda: self._read("hospitals", "/Organization", None, _bundle(_hospital))
        )

    def departments(self, hospital_id: str) -> list[Department]:
        """GET HealthcareService?organization=."""
        query = {"organization": hospital_id}
        shape = _bundle(lambda r: _department(r, hospital_id))
        return self.search.remember(
            ("departments", hospital_id), lambda: self._read("departments", "/HealthcareService", query, shape)
        )

    def schedules(self, hospital_id: str, department_id: str, day: date) -> list[Slot]:
        """GET Slot?service=&date=."""
        _check_department(hospital_id, department_id)
        return self._read("schedules", "/Slot", {"service": department_id, "date": day.isoformat()}, _bundle(_slot))

    def slot(self, hospital_id: str, department_id: str, slot_id: str) -> Slot:
        """GET Slot/<id>, and it must be that department's."""
        _check_department(hospital_id, department_id)
        found = self._read("slot", f"/Slot/{slot_id}", None, _slot)
        if (found.hospital_id, found.department_id) != (hospital_id, department_id):
            raise port.not_found(port.SLOT_NOT_FOUND, "slot")
        return found

    def hold(self, slot: Slot, patient: Patient, reference: str) -> Hold:
        """POST Appointment/$hold: no idempotency key, so never repeated (a hold whose answer is lost expires)."""
        body = {"slot": slot.slot_id, "patient": {"name": patient.name, "idNumber": patient.id_number}}
        return self.link.call(
            "hold", lambda: self._request("hold", "POST", "/Appointment/$hold", _hold, json=body), safe=False
        )

    def book(self, hold_id: str) -> Hold:
        """POST Appointment/<id>/$book; booking twice answers the same, so it may be repeated."""
        path = f"/Appointment/{hold_id}/$book"
        return self.link.call("book", lambda: self._request("book", "POST", path, _hold), safe=True)

    def cancel(self, hold_id: str) -> Hold:
        """POST Appointment/<id>/$cancel; cancelling twice answers the same."""
        path = f"/Appointment/{hold_id}/$cancel"
        return self.link.call("cancel", lambda: self._request("cancel", "POST", path, _hold), safe=True)

    def booking(self, hold_id: str) -> Hold:
        """GET Appointment/<id>; an expired hold reads "cancelled" with the reason hold-expired."""
        return self._read("booking", f"/Appointment/{hold_id}", None, lambda found: record_of(hold_id, _hold(found)))

    def _read(self, operation: str, path: str, query: dict[str, str] | None, shape: Callable[[dict[str, Any]], T]) -> T:
        """A GET: a safe read, so retried."""
        return self.link.call(operation, lambda: self._request(operation, "GET", path, shape, query), safe=True)

    def _request(
        self,
        operation: str,
        method: str,
        path: str,
        shape: Callable[[dict[str, Any]], T],
        query: dict[str, str] | None = None,
        **kwargs: Any,
    ) -> T:
        """One HTTP exchange: the resource read by shape, or our error for the HIS's OperationOutcome."""
        key = self.link.secret(self.params.api_key_env)
        headers = {"X-Api-Key": key, "Accept": FHIR_JSON}
        response = self.http.request(
            method,
            self.params.base_url.rstrip("/") + path,
            params=query,
            headers=headers,
            timeout=self.params.timeout_seconds,
            **kwargs,
        )
        if response.status_code >= 500 or response.status_code in (401, 403, 405):
            # Busy, down, or our key or request refused: nothing a resident can change.
            response.raise_for_status()
        with reading(self.link.connection, operation):
            answer = mapping(json_of(response))
            if response.ok:
                return shape(answer)
            raise _rejection(answer)
        raise AssertionError("unreachable")  # pragma: no cover - reading() re-raises


def _bundle(shape: Callable[[dict[str, Any]], T]) -> Callable[[dict[str, Any]], list[T]]:
    """A searchset Bundle's resources, each read by shape."""

    def read(answer: dict[str, Any]) -> list[T]:
        if answer.get("resourceType") != "Bundle":
            raise Unreadable("not a Bundle")
        return [shape(mapping(mapping(entry).get("resource"))) for entry in items(answer.get("entry", []))]

    return read


def _rejection(outcome: dict[str, Any]) -> UpstreamRejected:
    """Our error for an OperationOutcome's code; an unknown code is unreadable."""
    try:
        issue = mapping(items(outcome.get("issue"))[0])
        code = text(mapping(items(mapping(issue.get("details")).get("coding"))[0]), "code")
    except IndexError:
        raise Unreadable("an OperationOutcome without an issue") from None
    if code not in REJECTIONS:
        raise Unreadable("an error code the HIS does not document")
    return REJECTIONS[code]()


def _check_department(hospital_id: str, department_id: str) -> None:
    """A HealthcareService id is `<organization>-<code>`: another hospital's department is not this one's."""
    if not department_id.startswith(f"{hospital_id}-"):
        raise port.not_found(port.DEPARTMENT_NOT_FOUND, "department")


def _hospital(resource: dict[str, Any]) -> Hospital:
    level = next(
        (
            optional_text(e, "valueString")
            for e in map(mapping, items(resource.get("extension", [])))
            if e.get("url") == "level"
        ),
        None,
    )
    addresses = items(resource.get("address", []))
    district = optional_text(mapping(addresses[0]), "district") if addresses else None
    return Hospital(text(resource, "id"), text(resource, "name", LONGEST_NAME), level, district)


def _department(resource: dict[str, Any], hospital_id: str) -> Department:
    return Department(text(resource, "id"), hospital_id, text(resource, "name", LONGEST_NAME))


def _reference_id(value: object, kind: str) -> str:
    """The id in a reference {"reference": "Kind/<id>"}."""
    reference = text(mapping(value), "reference")
    prefix, _, found = reference.partition("/")
    if prefix != kind or not found:
        raise Unreadable(f"not a {kind} reference")
    return found


def _slot(resource: dict[str, Any]) -> Slot:
    if resource.get("resourceType") != "Slot":
        raise Unreadable("not a Slot")
    with_who = mapping(resource.get("practitioner"))
    return Slot(
        slot_id=text(resource, "id"),
        hospital_id=_reference_id(resource.get("organization"), "Organization"),
        department_id=_reference_id(resource.get("service"), "HealthcareService"),
        doctor=text(with_who, "name"),
        doctor_title=text(with_who, "title"),
        starts_at=moment(text(resource, "start")),
        ends_at=moment(text(resource, "end")),
        fee_fen=whole(resource, "feeFen"),
        remaining=whole(resource, "remaining"),
        hospital_name=optional_text(mapping(resource.get("organization")), "display", LONGEST_NAME) or "",
        department_name=optional_text(mapping(resource.get("service")), "display", LONGEST_NAME) or "",
    )


def _hold(resource: dict[str, Any]) -> Hold:
    if resource.get("resourceType") != "Appointment":
        raise Unreadable("not an Appointment")
    status = STATUSES.get(text(resource, "status"))
    if status is None:
        raise Unreadable("an appointment status the HIS does not document")
    reason = resource.get("cancelationReason")
    if status == port.CANCELLED and reason is not None:
        codes = [text(mapping(c), "code") for c in items(mapping(reason).get("coding", []))]
        status = port.EXPIRED if "hold-expired" in codes else status
    expires = optional_text(resource, "holdExpiresAt")
    return Hold(
        hold_id=text(resource, "id"),
        status=status,
        fee_fen=whole(resource, "feeFen"),
        expires_at=moment(expires) if expires else None,
    )
