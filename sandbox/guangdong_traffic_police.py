"""guangdong_traffic_police: says whether a plate is registered and whether it is a given person's.

`POST /upstreams/guangdong-traffic-police/api/vehicle/owner-check {hphm, hpzl, sfzmhm?}` with the
request signed in headers (X-GDTP-AppId, X-GDTP-Timestamp, X-GDTP-Nonce, X-GDTP-Signature:
base64 HMAC-SHA256 over method, path, timestamp, nonce and the body's SHA-256). Answers are
`{ret, msg, result}`; ret 0 is success. No owner data beyond yes/no ever leaves it.
sandbox/README.md has the rest.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.car_move import GUANGDONG
from sandbox.car_move import PLATE
from sandbox.car_move import PLATE_TYPES
from sandbox.upstream_access import BUSY
from sandbox.upstream_access import MalformedBody
from sandbox.upstream_access import act_out_fault
from sandbox.upstream_access import json_object_body
from sandbox.world import World

PREFIX = "/upstreams/guangdong-traffic-police"
FAULT_TARGET = "car_move.guangdong_traffic_police"

# ret -> (HTTP status, msg)
ERRORS = {
    1001: (401, "缺少签名头"),
    1002: (401, "AppId不存在"),
    1003: (401, "签名错误"),
    1004: (401, "时间戳超出允许范围"),
    1005: (401, "Nonce重复"),
    2001: (400, "参数错误"),
    5001: (503, "系统繁忙"),
}
HEADERS = ("X-GDTP-AppId", "X-GDTP-Timestamp", "X-GDTP-Nonce", "X-GDTP-Signature")
_TIMESTAMP = re.compile(r"[0-9]{10}")
_NONCE = re.compile(r"[A-Za-z0-9]{16,32}")
_ID_NUMBER = re.compile(r"[0-9]{17}[0-9Xx]")


class GdError(Exception):
    """A refusal: ret, its HTTP status and message."""

    def __init__(self, ret: int, detail: str = "") -> None:
        super().__init__(ret)
        self.ret, self.status = ret, ERRORS[ret][0]
        self.msg = ERRORS[ret][1] + (f"：{detail}" if detail else "")


def create_guangdong_traffic_police_blueprint(world: World) -> Blueprint:
    """The one owner-check route."""
    bp = Blueprint("guangdong_traffic_police", __name__, url_prefix=PREFIX)

    @bp.errorhandler(GdError)
    def refuse(error: GdError) -> Response:
        return _json({"ret": error.ret, "msg": error.msg, "result": None}, error.status)

    @bp.post("/api/vehicle/owner-check")
    def check_owner() -> Response:
        outcome = act_out_fault(world.faults, FAULT_TARGET)
        if isinstance(outcome, Response):
            return outcome
        if outcome == BUSY:
            raise GdError(5001)
        _verify_signature(world)
        try:
            body = json_object_body()
        except MalformedBody as malformed:
            raise GdError(2001, str(malformed)) from None
        plate, plate_type, id_number = body.get("hphm"), body.get("hpzl"), body.get("sfzmhm")
        if not isinstance(plate, str) or not PLATE.fullmatch(plate):
            raise GdError(2001, "hphm")
        if plate_type not in PLATE_TYPES:
            raise GdError(2001, "hpzl")
        if id_number is not None and (not isinstance(id_number, str) or not _ID_NUMBER.fullmatch(id_number)):
            raise GdError(2001, "sfzmhm")
        vehicle = world.car_move.records.vehicle(GUANGDONG, plate)
        registered = vehicle is not None and vehicle.plate_type == plate_type
        result: dict[str, Any] = {"registered": registered}
        if id_number is not None:
            result["ownerMatched"] = registered and vehicle is not None and vehicle.owner_id_number == id_number.upper()
        return _json({"ret": 0, "msg": "ok", "result": result})

    return bp


def canonical_request(method: str, path: str, timestamp: str, nonce: str, body: bytes) -> str:
    """What the signature covers: method, path, timestamp, nonce and the body's hex SHA-256, one per line."""
    return "\n".join((method, path, timestamp, nonce, hashlib.sha256(body).hexdigest()))


def sign(secret: str, canonical: str) -> str:
    """Base64 (standard alphabet, padded) HMAC-SHA256 of the canonical text, keyed with the secret's ASCII."""
    digest = hmac.new(secret.encode("ascii"), canonical.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _verify_signature(world: World) -> None:
    app_id, timestamp, nonce, signature = (request.headers.get(name, "") for name in HEADERS)
    if not (app_id and timestamp and nonce and signature):
        raise GdError(1001, ", ".join(name for name in HEADERS if not request.headers.get(name)))
    credential = world.car_move.credentials[GUANGDONG]
    if app_id != credential.client_id:
        raise GdError(1002)
    if not _TIMESTAMP.fullmatch(timestamp) or not _NONCE.fullmatch(nonce):
        raise GdError(1001, "X-GDTP-Timestamp应为10位Unix秒，X-GDTP-Nonce应为16-32位字母或数字")
    expected = sign(credential.secret, canonical_request("POST", request.path, timestamp, nonce, request.get_data()))
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        raise GdError(1003)
    if abs(time.time() - int(timestamp)) > world.config.upstream_clock_skew_seconds:
        raise GdError(1004)
    if not world.car_move.guangdong_nonces.first_use(nonce):
        raise GdError(1005)


def _json(body: dict[str, Any], status: int = 200) -> Response:
    return Response(json.dumps(body, ensure_ascii=False), status=status, content_type="application/json;charset=UTF-8")
