"""zhejiang_traffic_police: car-move requests (一键挪车) to a traffic-police system that calls the owner.

`POST /upstreams/zhejiang-traffic-police/api/v1/token {appKey, appSecret}` issues an access token
sent as `X-Access-Token` on `POST .../api/v1/move-requests`, `GET .../api/v1/move-requests/<ticketNo>`
and `POST .../api/v1/move-requests/<ticketNo>/cancel`. Every answer is HTTP 200 JSON
`{code, msg, data}`; code 0 is success. sandbox/README.md has the rest.
"""

from __future__ import annotations

import json
import math
import re
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.car_move import CANCELLED
from sandbox.car_move import PLATE
from sandbox.car_move import PLATE_TYPES
from sandbox.car_move import ZHEJIANG
from sandbox.car_move import Location
from sandbox.car_move import MonthlyLimitReached
from sandbox.car_move import RequestNoReused
from sandbox.car_move import Ticket
from sandbox.car_move import TicketConflict
from sandbox.car_move import VehicleUnknown
from sandbox.outbox import BEIJING
from sandbox.upstream_access import BUSY
from sandbox.upstream_access import EXPIRED
from sandbox.upstream_access import VALID
from sandbox.upstream_access import MalformedBody
from sandbox.upstream_access import act_out_fault
from sandbox.upstream_access import json_object_body
from sandbox.upstream_access import same_secret
from sandbox.world import World

PREFIX = "/upstreams/zhejiang-traffic-police"
FAULT_TARGET = "car_move.zhejiang_traffic_police"

# code -> msg
MESSAGES = {
    0: "success",
    40001: "参数错误",
    40101: "accessToken无效",
    40102: "accessToken已过期",
    40103: "appKey或appSecret错误",
    40401: "未查询到该号牌车辆的登记信息",
    40402: "挪车工单不存在",
    40901: "requestNo已被其他请求使用",
    40902: "挪车工单已结束，不能撤销",
    42901: "本月挪车请求次数已达上限",
    50001: "系统繁忙，请稍后重试",
}
_REFERENCE = re.compile(r"[A-Za-z0-9_-]{6,64}")
_REQUEST_NO = re.compile(r"[A-Za-z0-9_-]{8,64}")
_TICKET_NO = re.compile(r"[A-Z0-9]{1,40}")


class ZjError(Exception):
    """A refusal: a code and its message."""

    def __init__(self, code: int, detail: str = "") -> None:
        super().__init__(code)
        self.code = code
        self.msg = MESSAGES[code] + (f"：{detail}" if detail else "")


def create_zhejiang_traffic_police_blueprint(world: World) -> Blueprint:
    """The token endpoint and the car-move ticket API."""
    bp = Blueprint("zhejiang_traffic_police", __name__, url_prefix=PREFIX)
    police = world.car_move

    @bp.errorhandler(ZjError)
    def refuse(error: ZjError) -> Response:
        return _json({"code": error.code, "msg": error.msg, "data": None})

    @bp.post("/api/v1/token")
    def issue_token() -> Response:
        body = _body()
        app_key, app_secret = body.get("appKey"), body.get("appSecret")
        if not isinstance(app_key, str) or not isinstance(app_secret, str):
            raise ZjError(40001, "appKey和appSecret必填")
        credential = police.credentials[ZHEJIANG]
        right_secret = same_secret(app_secret, credential.secret)
        if app_key != credential.client_id or not right_secret:
            raise ZjError(40103)
        token = police.zhejiang_tokens.issue(app_key)
        return _success({"accessToken": token, "expiresIn": police.zhejiang_tokens.ttl_seconds})

    @bp.post("/api/v1/move-requests")
    def submit() -> Response:
        if (down := _front_door(world)) is not None:
            return down
        body = _body()
        request_no = _text(body, "requestNo", _REQUEST_NO)
        plate, plate_type = _text(body, "hphm", PLATE), body.get("hpzl")
        if plate_type not in PLATE_TYPES:
            raise ZjError(40001, "hpzl应为01、02、51或52")
        requester_ref, location = _text(body, "requesterRef", _REFERENCE), _location(body.get("location"))
        message = body.get("message", "")
        if not isinstance(message, str) or len(message) > 50 or not message.isprintable():
            raise ZjError(40001, "message最多50个字符")
        try:
            ticket = police.records.ask_owner_to_move(
                ZHEJIANG, request_no, plate, plate_type, requester_ref, location, message
            )
        except RequestNoReused:
            raise ZjError(40901) from None
        except VehicleUnknown:
            raise ZjError(40401) from None
        except MonthlyLimitReached:
            raise ZjError(42901) from None
        return _success(describe_ticket(ticket))

    @bp.get("/api/v1/move-requests/<ticket_no>")
    def status(ticket_no: str) -> Response:
        if (down := _front_door(world)) is not None:
            return down
        return _success(describe_ticket(_ticket(world, ticket_no)))

    @bp.post("/api/v1/move-requests/<ticket_no>/cancel")
    def cancel(ticket_no: str) -> Response:
        if (down := _front_door(world)) is not None:
            return down
        ticket = _ticket(world, ticket_no)
        if ticket.status == CANCELLED:
            return _success(describe_ticket(ticket))  # cancelling twice changes nothing
        try:
            police.records.move_to(ticket.ticket_no, CANCELLED, by_hand=False)
        except TicketConflict:
            raise ZjError(40902) from None
        return _success(describe_ticket(ticket))

    return bp


def describe_ticket(ticket: Ticket) -> dict[str, Any]:
    """A ticket as the API shows it: statuses in upper case, times ISO 8601 Beijing time."""
    return {
        "ticketNo": ticket.ticket_no,
        "requestNo": ticket.request_no,
        "hphm": ticket.plate,
        "hpzl": ticket.plate_type,
        "status": ticket.status.upper(),
        "createdAt": _moment(ticket.created_at),
        "updatedAt": _moment(ticket.updated_at),
        "events": [{"status": status.upper(), "at": _moment(at)} for status, at in ticket.events],
    }


def _front_door(world: World) -> Response | None:
    """Faults first, then the access token; a Response when the system is down."""
    outcome = act_out_fault(world.faults, FAULT_TARGET)
    if isinstance(outcome, Response):
        return outcome
    if outcome == BUSY:
        raise ZjError(50001)
    token = request.headers.get("X-Access-Token", "")
    checked = world.car_move.zhejiang_tokens.check(token) if token else None
    if checked == EXPIRED:
        raise ZjError(40102)
    if checked != VALID:
        raise ZjError(40101)
    return None


def _ticket(world: World, ticket_no: str) -> Ticket:
    found = world.car_move.records.ticket(ticket_no) if _TICKET_NO.fullmatch(ticket_no) else None
    if found is None or found.system != ZHEJIANG:
        raise ZjError(40402)
    return found


def _body() -> dict[str, Any]:
    try:
        return json_object_body()
    except MalformedBody as malformed:
        raise ZjError(40001, str(malformed)) from None


def _text(body: dict[str, Any], key: str, pattern: re.Pattern[str]) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise ZjError(40001, f"{key}格式错误")
    return value


def _location(value: object) -> Location:
    if not isinstance(value, dict):
        raise ZjError(40001, "location必填，应为对象")
    address, longitude, latitude = value.get("address"), value.get("longitude"), value.get("latitude")
    if not isinstance(address, str) or not 0 < len(address) <= 100 or not address.isprintable():
        raise ZjError(40001, "location.address应为1-100个字符")
    if longitude is None and latitude is None:
        return Location(address)
    for name, number, bound in (("longitude", longitude, 180), ("latitude", latitude, 90)):
        if isinstance(number, bool) or not isinstance(number, (int, float)):
            raise ZjError(40001, f"location.{name}应为数字，经纬度需同时提供")
        # Compared before any float conversion: a huge JSON integer does not fit in a float.
        if not -bound <= number <= bound or not math.isfinite(number):
            raise ZjError(40001, f"location.{name}超出范围")
    return Location(address, float(longitude), float(latitude))  # type: ignore[arg-type]


def _moment(at: float) -> str:
    return datetime.fromtimestamp(at, BEIJING).isoformat(timespec="seconds")


def _success(data: dict[str, Any]) -> Response:
    return _json({"code": 0, "msg": MESSAGES[0], "data": data})


def _json(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), content_type="application/json;charset=UTF-8")
