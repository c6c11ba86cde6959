"""Guangdong traffic police platform (广东交警): says whether a plate is registered and whose it is, yes or no.

The platform never contacts owners and never returns owner data. A car-move request is therefore
a check that the vehicle is registered, and a ticket citytiles carries on itself (the registered
owner is told through the channel). Each request is signed in four X-GDTP-* headers with
HMAC-SHA256 over the method, path, timestamp, nonce and the body's SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import requests

from city_services.car_move.provider import ACCEPTED
from city_services.car_move.provider import CANCELLED
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
OWNER_CHECK = "/api/vehicle/owner-check"
SUCCESS, BAD_FIELD, BUSY = 0, 2001, 5001
# Tickets of this system are ours: the platform keeps none.
TICKET_PREFIX = "GDCT"
_NONCE_ALPHABET = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is, our X-GDTP-AppId, and the variable holding the signing secret."""

    app_id: str = text(r"[A-Za-z0-9_-]{4,64}", example="GDTP-CT-0001")
    credentials_env: str = secret_variable(example="GUANGDONG_TRAFFIC_POLICE_CREDENTIALS")

    def connect(self, link: UpstreamLink) -> GuangdongTrafficPolice:
        """The adapter speaking this platform's dialect."""
        return GuangdongTrafficPolice(self, link)


class GuangdongTrafficPolice:
    """Registration and ownership checks; reaching the owner is left to citytiles."""

    name = "guangdong_traffic_police"
    contacts_owner = False

    def __init__(self, params: Params, link: UpstreamLink) -> None:
        self.params = params
        self.link = link
        self.http = http_session(params.max_concurrent_calls)
        self.path = urlsplit(params.base_url).path.rstrip("/") + OWNER_CHECK

    def submit(self, request: MoveRequest) -> Ticket:
        """Confirm the vehicle is registered; the ticket is ours, accepted for citytiles to reach the owner."""
        answer = self.link.call(
            "owner_check", lambda: self._check({"hphm": request.plate, "hpzl": plate_type_of(request.plate)}), safe=True
        )
        if answer.get("registered") is not True:
            raise UpstreamRejected(
                "car_move.vehicle_not_found", "The traffic police have no vehicle with this plate.", kind="not_found"
            )
        return Ticket(
            number=TICKET_PREFIX + request.request_no,
            status=ACCEPTED,
            events=(TicketEvent(ACCEPTED, datetime.now(UTC)),),
        )

    def status(self, ticket: str) -> Ticket:
        """The platform keeps no tickets: ours stays accepted until citytiles moves it on."""
        return Ticket(number=ticket, status=ACCEPTED, events=())

    def cancel(self, ticket: str) -> Ticket:
        """Nothing to withdraw at the platform."""
        return Ticket(number=ticket, status=CANCELLED, events=())

    def owner_of(self, plate: str, id_number: str) -> OwnerCheck:
        """Whether the plate is registered, and to the holder of this ID number."""
        body = {"hphm": plate, "hpzl": plate_type_of(plate), "sfzmhm": id_number}
        answer = self.link.call("owner_check", lambda: self._check(body), safe=True)
        registered, matched = answer.get("registered"), answer.get("ownerMatched")
        if not isinstance(registered, bool) or not isinstance(matched, bool):
            raise _unreadable("result")
        return OwnerCheck(registered=registered, owner_matched=matched)

    def _check(self, body: dict[str, Any]) -> dict[str, Any]:
        """One signed owner-check; the result object, or our error for its ret."""
        raw = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        response = self.http.post(
            self.params.base_url + OWNER_CHECK,
            data=raw,
            headers={"Content-Type": "application/json", **self._signature(raw)},
            timeout=self.params.timeout_seconds,
        )
        answer = _answer(response)
        ret = answer["ret"]
        if ret == SUCCESS:
            result = answer.get("result")
            if not isinstance(result, dict) or not isinstance(result.get("registered"), bool):
                raise _unreadable("result")
            return result
        if ret == BUSY:
            raise UpstreamUnavailable("upstream.unavailable", "The traffic police system is busy; try again soon.", 5)
        if ret == BAD_FIELD:
            raise UpstreamRejected(
                "car_move.plate_refused", "The traffic police do not take this plate.", kind="invalid"
            )
        # A signature, clock or nonce refusal: ours to fix, never the resident's.
        log.error("car-move platform refused our signature", extra={"connection": self.link.connection, "ret": ret})
        raise UpstreamUnavailable("upstream.unavailable", "The traffic police system cannot take requests right now.")

    def _signature(self, raw: bytes) -> dict[str, str]:
        timestamp = str(int(time.time()))
        nonce = "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(24))
        canonical = "\n".join(("POST", self.path, timestamp, nonce, hashlib.sha256(raw).hexdigest()))
        key = self.link.secret(self.params.credentials_env).encode("ascii")
        digest = hmac.new(key, canonical.encode("utf-8"), hashlib.sha256).digest()
        return {
            "X-GDTP-AppId": self.params.app_id,
            "X-GDTP-Timestamp": timestamp,
            "X-GDTP-Nonce": nonce,
            "X-GDTP-Signature": base64.b64encode(digest).decode("ascii"),
        }


def _answer(response: requests.Response) -> dict[str, Any]:
    """The `{ret, msg, result}` body, whatever the HTTP status; an HTML error page is no answer."""
    try:
        body = response.json()
    except ValueError:
        response.raise_for_status()
        raise _unreadable("body") from None
    if not isinstance(body, dict) or isinstance(body.get("ret"), bool) or not isinstance(body.get("ret"), int):
        response.raise_for_status()
        raise _unreadable("ret")
    return body


def _unreadable(part: str) -> UpstreamUnavailable:
    log.warning("unreadable car-move answer", extra={"system": "guangdong_traffic_police", "part": part})
    return UpstreamUnavailable("upstream.unavailable", "The traffic police system gave an answer we cannot read.")
