"""Shenzhen's municipal health platform (健康深圳): signed flat JSON actions under /open/v1/.

Every request is one JSON object of strings with app_id, timestamp, nonce, sign_type and sign (HMAC-SHA256
over the sorted non-empty parameters, keyed by the app secret). Every answer is `{code, msg, data}`,
code "0" on success. An order for a paid slot waits for payment until expire_time; a free one is
confirmed at once. Our order number (out_order_no) makes a submit safe to repeat.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from typing import Any
from typing import TypeVar

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text as text_param
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
from city_services.outpatient.provider import BEIJING
from city_services.outpatient.provider import Department
from city_services.outpatient.provider import Hold
from city_services.outpatient.provider import Hospital
from city_services.outpatient.provider import Patient
from city_services.outpatient.provider import Slot
from city_services.outpatient.search_cache import SearchCache
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.http import http_session

T = TypeVar("T")
SIGN_TYPE = "HMAC-SHA256"
# The platform's codes that are final answers, as ours; every other non-zero code means "not now".
REJECTIONS = {
    "2001": lambda: port.not_found(port.HOSPITAL_NOT_FOUND, "hospital"),
    "2002": lambda: port.not_found(port.DEPARTMENT_NOT_FOUND, "department"),
    "2003": lambda: port.not_found(port.SLOT_NOT_FOUND, "slot"),
    "2004": lambda: port.not_found(port.HOLD_NOT_FOUND, "appointment"),
    "3001": lambda: port.refused(port.SLOT_UNAVAILABLE, port.SLOT_GONE_MESSAGE),
    "3002": lambda: port.refused(port.DUPLICATE, port.DUPLICATE_MESSAGE),
    "3003": lambda: port.refused(port.HOLD_EXPIRED, port.EXPIRED_MESSAGE),
    "3004": lambda: port.refused(port.HOLD_CANCELLED, port.CANCELLED_MESSAGE),
    "1001": lambda: UpstreamRejected(
        port.PATIENT_REFUSED, "The hospital refused the patient's details as registered.", kind="invalid"
    ),
}
STATUSES = {
    "PENDING_PAYMENT": port.HELD,
    "CONFIRMED": port.CONFIRMED,
    "CANCELLED": port.CANCELLED,
    "EXPIRED": port.EXPIRED,
}


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is (…/open/v1), the app id it issued us, and the variable holding the app secret."""

    app_id: str = text_param(r"[A-Za-z0-9_]{1,64}", example="szjk_citytiles_demo")
    signing_key_env: str = secret_variable(example="SHENZHEN_HEALTH_SIGNING_KEY")

    def connect(self, link: UpstreamLink) -> ShenzhenHealthPlatform:
        """The adapter over this connection."""
        return ShenzhenHealthPlatform(self, link)


class ShenzhenHealthPlatform:
    """shenzhen_health_platform as an OutpatientProvider."""

    def __init__(self, params: Params, link: UpstreamLink, *, clock: Any = time.time) -> None:
        self.params = params
        self.link = link
        self.clock = clock
        self.http = http_session(params.max_concurrent_calls)
        self.search = SearchCache()

    def hospitals(self) -> list[Hospital]:
        """hospital/list."""
        return self.search.remember(
            "hospitals", lambda: self._act("hospitals", "hospital/list", {}, safe=True, shape=_hospitals)
        )

    def departments(self, hospital_id: str) -> list[Department]:
        """department/list {hos_code}."""
        query = {"hos_code": hospital_id}
        return self.search.remember(
            ("departments", hospital_id),
            lambda: self._act("departments", "department/list", query, safe=True, shape=_departments),
        )

    def schedules(self, hospital_id: str, department_id: str, day: date) -> list[Slot]:
        """schedule/list {hos_code, dep_code, work_date}."""
        query = {"hos_code": hospital_id, "dep_code": department_id, "work_date": day.isoformat()}
        return list(self._act("schedules", "schedule/list", query, safe=True, shape=_schedules))

    def slot(self, hospital_id: str, department_id: str, slot_id: str) -> Slot:
        """The department's week, searched: the platform has no single-schedule read."""
        query = {"hos_code": hospital_id, "dep_code": department_id}
        week = self._act("slot", "schedule/list", query, safe=True, shape=_schedules)
        for found in week:
            if found.slot_id == slot_id:
                return found
        raise port.not_found(port.SLOT_NOT_FOUND, "slot")

    def hold(self, slot: Slot, patient: Patient, reference: str) -> Hold:
        """order/submit: repeating it with the same out_order_no answers the first order, so it may be retried."""
        order = {
            "schedule_id": slot.slot_id,
            "out_order_no": reference,
            "patient_name": patient.name,
            "patient_id_number": patient.id_number,
        }
        return self._act("hold", "order/submit", order, safe=True, shape=_order)

    def book(self, hold_id: str) -> Hold:
        """order/confirm (after payment)."""
        return self._act("book", "order/confirm", {"order_no": hold_id}, safe=True, shape=_order)

    def cancel(self, hold_id: str) -> Hold:
        """order/cancel."""
        return self._act("cancel", "order/cancel", {"order_no": hold_id}, safe=True, shape=_order)

    def booking(self, hold_id: str) -> Hold:
        """order/query {order_no}: a read, so safe to repeat."""
        query = {"order_no": hold_id}
        return self._act(
            "booking", "order/query", query, safe=True, shape=lambda data: record_of(hold_id, _order(data))
        )

    def _act(
        self, operation: str, action: str, params: dict[str, str], *, safe: bool, shape: Callable[[object], T]
    ) -> T:
        """One signed action; its data read by shape."""

        def attempt() -> T:
            body = self._signed(params)
            response = self.http.post(
                f"{self.params.base_url.rstrip('/')}/{action}", json=body, timeout=self.params.timeout_seconds
            )
            if response.status_code != 200:
                # Down (503 HTML), a path or method the platform does not know: no answer to read.
                response.raise_for_status()
                with reading(self.link.connection, operation):
                    raise Unreadable(f"HTTP {response.status_code}")
            with reading(self.link.connection, operation):
                answer = mapping(json_of(response))
                code = text(answer, "code")
                if code != "0":
                    raise _rejection(self.link.connection, operation, code)
                return shape(answer.get("data"))

        return self.link.call(operation, attempt, safe=safe)

    def _signed(self, params: dict[str, str]) -> dict[str, str]:
        """The common parameters and the signature over everything non-empty."""
        body = {
            **params,
            "app_id": self.params.app_id,
            "timestamp": str(int(self.clock())),
            "nonce": secrets.token_hex(12),
            "sign_type": SIGN_TYPE,
        }
        signed = "&".join(f"{key}={value}" for key, value in sorted(body.items()) if value != "")
        key = self.link.secret(self.params.signing_key_env)
        body["sign"] = hmac.new(key.encode(), signed.encode("utf-8"), hashlib.sha256).hexdigest()
        return body


def _rejection(connection: str, operation: str, code: str) -> UpstreamRejected:
    """Our error for a final code; any other code (busy, signature, clock, app) makes the call unavailable."""
    if code in REJECTIONS:
        return REJECTIONS[code]()
    # The platform's code is no personal data; it tells an operator whether our key or clock is wrong.
    logging.getLogger("citytiles.upstreams").warning(
        "upstream refused the call", extra={"connection": connection, "operation": operation, "code": code}
    )
    raise UpstreamUnavailable("upstream.unavailable", "The hospital platform cannot take requests right now.")


def _hospitals(data: object) -> list[Hospital]:
    return [
        Hospital(
            text(row, "hos_code"),
            text(row, "hos_name", LONGEST_NAME),
            optional_text(row, "level"),
            optional_text(row, "district"),
        )
        for row in map(mapping, items(data))
    ]


def _departments(data: object) -> list[Department]:
    return [
        Department(text(row, "dep_code"), text(row, "hos_code"), text(row, "dep_name", LONGEST_NAME))
        for row in map(mapping, items(data))
    ]


def _beijing(day: str, clock_time: str) -> datetime:
    return moment(f"{day}T{clock_time}", tz=BEIJING)


def _schedules(data: object) -> list[Slot]:
    return [_schedule(mapping(row)) for row in items(data)]


def _schedule(row: dict[str, Any]) -> Slot:
    day = text(row, "work_date")
    return Slot(
        slot_id=text(row, "schedule_id"),
        hospital_id=text(row, "hos_code"),
        department_id=text(row, "dep_code"),
        doctor=text(row, "doctor_name"),
        doctor_title=text(row, "doctor_title"),
        starts_at=_beijing(day, text(row, "begin_time")),
        ends_at=_beijing(day, text(row, "end_time")),
        fee_fen=whole(row, "amount"),
        remaining=whole(row, "available_number"),
        hospital_name=optional_text(row, "hos_name", LONGEST_NAME) or "",
        department_name=optional_text(row, "dep_name", LONGEST_NAME) or "",
    )


def _order(data: object) -> Hold:
    row = mapping(data)
    status = STATUSES.get(text(row, "status"))
    if status is None:
        raise Unreadable("an order status the platform does not document")
    expires = optional_text(row, "expire_time")
    return Hold(
        hold_id=text(row, "order_no"),
        status=status,
        fee_fen=whole(row, "amount"),
        expires_at=moment(expires.replace(" ", "T"), tz=BEIJING) if expires else None,
    )
