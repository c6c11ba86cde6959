"""Zhejiang traffic police platform (浙江交警): it calls and messages the owner itself.

One provincial platform serves every Zhejiang city; a connection covers the plates of one city's prefix.
Calls carry an access token from the platform's token endpoint in `X-Access-Token`; every answer is
HTTP 200 with `{code, msg, data}`, code 0 meaning success. The platform cannot say who owns a car,
so `owner_of` answers that it cannot say.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import requests

from city_services.car_move.provider import MoveRequest
from city_services.car_move.provider import OwnerCheck
from city_services.car_move.provider import Ticket
from city_services.car_move.provider import TicketEvent
from city_services.car_move.provider import plate_type_of
from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text
from city_services.upstream_link import UpstreamLink
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.http import http_session

log = logging.getLogger("citytiles.upstreams")
SUCCESS, TOKEN_INVALID, TOKEN_EXPIRED, BUSY = 0, 40101, 40102, 50001
# The platform's final answers, as ours: code -> (our code, kind, message).
REJECTIONS = {
    40401: ("car_move.vehicle_not_found", "not_found", "The traffic police have no vehicle with this plate."),
    40402: ("car_move.ticket_not_found", "not_found", "The traffic police have no such car-move request."),
    40902: ("car_move.ticket_finished", "conflict", "The request is already finished and cannot be cancelled."),
    42901: (
        "car_move.police_monthly_limit",
        "conflict",
        "The traffic police allow no more car-move requests from you this month.",
    ),
}
STATUSES = {"NOTIFIED", "ACKNOWLEDGED", "MOVED", "UNREACHABLE", "CANCELLED"}
# Renew the token this long before the platform says it expires, so no call carries a dying one.
TOKEN_MARGIN_SECONDS = 60


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is, the city's plate prefix (浙A ... 浙L), our appKey and its secret's variable."""

    region: str = text(r"浙[A-L]", example="浙A")
    client_id: str = text(r"[A-Za-z0-9_-]{4,64}", example="ZJJJ0571CT01")
    credentials_env: str = secret_variable(example="ZHEJIANG_TRAFFIC_POLICE_CREDENTIALS")

    def connect(self, link: UpstreamLink) -> ZhejiangTrafficPolice:
        """The adapter speaking this platform's dialect."""
        return ZhejiangTrafficPolice(self, link)


class ZhejiangTrafficPolice:
    """Car-move tickets at the Zhejiang platform; the token is kept until it nearly expires."""

    name = "zhejiang_traffic_police"
    contacts_owner = True

    def __init__(self, params: Params, link: UpstreamLink) -> None:
        self.params = params
        self.link = link
        self.http = http_session(params.max_concurrent_calls)
        self._token: tuple[str, float] | None = None
        self._token_lock = threading.Lock()

    def submit(self, request: MoveRequest) -> Ticket:
        """Open a ticket; the same request_no again returns the same ticket, so a retry is safe."""
        body: dict[str, Any] = {
            "requestNo": request.request_no,
            "hphm": request.plate,
            "hpzl": plate_type_of(request.plate),
            "location": {
                "address": request.place.address,
                "longitude": request.place.lng,
                "latitude": request.place.lat,
            },
            "requesterRef": request.requester_ref,
        }
        if request.message:
            body["message"] = request.message
        return self.link.call("submit", lambda: self._ticket("POST", "/api/v1/move-requests", body), safe=True)

    def status(self, ticket: str) -> Ticket:
        """The ticket as the platform holds it now."""
        return self.link.call("status", lambda: self._ticket("GET", f"/api/v1/move-requests/{ticket}"), safe=True)

    def cancel(self, ticket: str) -> Ticket:
        """Withdraw the request; cancelling twice answers the cancelled ticket again."""
        path = f"/api/v1/move-requests/{ticket}/cancel"
        return self.link.call("cancel", lambda: self._ticket("POST", path, {}), safe=True)

    def owner_of(self, plate: str, id_number: str) -> OwnerCheck:
        """The platform has no ownership check: it reaches owners itself and never says who they are."""
        return OwnerCheck(registered=None, owner_matched=None)

    def _ticket(self, method: str, path: str, body: dict[str, Any] | None = None) -> Ticket:
        """One call, renewing the token once if the platform says it is no longer good."""
        answer = self._send(method, path, body, self._access_token(renew=False))
        if answer["code"] in (TOKEN_INVALID, TOKEN_EXPIRED):
            answer = self._send(method, path, body, self._access_token(renew=True))
        return read_ticket(self._data(answer))

    def _send(self, method: str, path: str, body: dict[str, Any] | None, token: str) -> dict[str, Any]:
        response = self.http.request(
            method,
            self.params.base_url + path,
            json=body,
            headers={"X-Access-Token": token},
            timeout=self.params.timeout_seconds,
        )
        return _answer(response)

    def _access_token(self, *, renew: bool) -> str:
        with self._token_lock:
            if not renew and self._token is not None and self._token[1] > time.monotonic():
                return self._token[0]
            response = self.http.post(
                self.params.base_url + "/api/v1/token",
                json={"appKey": self.params.client_id, "appSecret": self.link.secret(self.params.credentials_env)},
                timeout=self.params.timeout_seconds,
            )
            data = self._data(_answer(response))
            token, lifetime = data.get("accessToken"), data.get("expiresIn")
            if not isinstance(token, str) or not token or isinstance(lifetime, bool) or not isinstance(lifetime, int):
                raise _unreadable("token")
            self._token = (token, time.monotonic() + max(lifetime - TOKEN_MARGIN_SECONDS, 1))
            return token

    def _data(self, answer: dict[str, Any]) -> dict[str, Any]:
        """The answer's data, or our error for its code."""
        code = answer["code"]
        if code == SUCCESS:
            data = answer.get("data")
            if not isinstance(data, dict):
                raise _unreadable("data")
            return data
        if code in REJECTIONS:
            ours, kind, message = REJECTIONS[code]
            raise UpstreamRejected(ours, message, kind=kind)
        if code == BUSY:
            raise UpstreamUnavailable("upstream.unavailable", "The traffic police system is busy; try again soon.", 5)
        # A refused parameter, a reused request number or refused credentials: ours to fix, not the resident's.
        log.error("car-move platform refused our call", extra={"connection": self.link.connection, "code": code})
        raise UpstreamUnavailable("upstream.unavailable", "The traffic police system cannot take requests right now.")


# A ticket number as the platform writes them (ZJNC2026...), short enough for our column.
TICKET = re.compile(r"[A-Za-z0-9_-]{1,64}")


def read_ticket(data: dict[str, Any]) -> Ticket:
    """A ticket from the platform's answer; anything unreadable makes the system unavailable, not a 500."""
    try:
        status = data["status"]
        if status not in STATUSES or not isinstance(data["ticketNo"], str) or not TICKET.fullmatch(data["ticketNo"]):
            raise ValueError("unknown status or a ticket number we cannot keep")
        events = tuple(TicketEvent(e["status"].lower(), _moment(e["at"])) for e in data["events"])
        return Ticket(number=data["ticketNo"], status=status.lower(), events=events)
    except (KeyError, TypeError, ValueError, AttributeError):
        raise _unreadable("ticket") from None


def _answer(response: requests.Response) -> dict[str, Any]:
    """The `{code, msg, data}` body; an HTML error page, a non-200 or a missing code is no answer."""
    response.raise_for_status()
    try:
        body = response.json()
    except ValueError:
        raise _unreadable("body") from None
    if not isinstance(body, dict) or isinstance(body.get("code"), bool) or not isinstance(body.get("code"), int):
        raise _unreadable("code")
    return body


def _moment(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("not a moment")
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        raise ValueError("a moment without its offset")
    return moment


def _unreadable(part: str) -> UpstreamUnavailable:
    log.warning("unreadable car-move answer", extra={"system": "zhejiang_traffic_police", "part": part})
    return UpstreamUnavailable("upstream.unavailable", "The traffic police system gave an answer we cannot read.")
