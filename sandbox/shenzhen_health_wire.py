"""健康深圳 platform wire conventions: signed flat JSON requests, `{code, msg, data}` answers.

A request body is one JSON object whose values are all strings. Common parameters: app_id,
timestamp (Unix seconds, 10 digits), nonce (16-32 letters and digits, once per 10 minutes),
sign_type ("HMAC-SHA256") and sign. The string to sign is every parameter except sign whose
value is not empty, sorted by key, joined as `k=v&k=v` with the raw values; sign is the lowercase
hex HMAC-SHA256 of its UTF-8 bytes under the app secret. A timestamp more than 300 seconds away
from the platform's clock is stale. Every answer is HTTP 200 unless the platform is down.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import time
from typing import Any

from flask import Response
from flask import request

from sandbox.outpatient import Outpatient

SIGNATURE_WINDOW_SECONDS = 300
COMMON = ("app_id", "timestamp", "nonce", "sign_type", "sign")
SIGN_TYPE = "HMAC-SHA256"
TIMESTAMP = re.compile(r"[0-9]{10}")
NONCE = re.compile(r"[A-Za-z0-9]{16,32}")
SIGN = re.compile(r"[0-9a-f]{64}")

# code -> msg, as the platform words them.
MESSAGES = {
    "0": "成功",
    "1001": "参数错误",
    "1002": "签名错误",
    "1003": "请求已过期",
    "1004": "重复的请求",
    "1005": "应用不存在",
    "1006": "接口不存在",
    "1007": "请求方法不支持",
    "2001": "医院不存在",
    "2002": "科室不存在",
    "2003": "号源不存在",
    "2004": "订单不存在",
    "3001": "号源已约满或已停诊",
    "3002": "同一就诊人同一科室同一天只能预约一次",
    "3003": "订单已超时关闭，号源已释放",
    "3004": "订单已取消",
    "3005": "商户订单号已用于其他号源或就诊人",
    "9999": "系统繁忙，请稍后再试",
}


class PlatformError(Exception):
    """A failure the platform reports as {code, msg, data: null}."""

    def __init__(self, code: str, detail: str = "", status: int = 200) -> None:
        super().__init__(code)
        self.code, self.status = code, status
        self.msg = MESSAGES.get(code, MESSAGES["9999"]) + (f"：{detail}" if detail else "")


def answer(data: Any) -> Response:
    """A successful answer."""
    return _json({"code": "0", "msg": MESSAGES["0"], "data": data})


def error_answer(error: PlatformError) -> Response:
    """A failure in the platform's format."""
    response = _json({"code": error.code, "msg": error.msg, "data": None})
    response.status_code = error.status
    return response


def string_to_sign(params: dict[str, str]) -> str:
    """Sorted k=v pairs of every non-empty parameter except sign."""
    return "&".join(f"{key}={value}" for key, value in sorted(params.items()) if key != "sign" and value != "")


def signed_params(outpatient: Outpatient) -> dict[str, str]:
    """The request's parameters once its app, signature, timestamp and nonce check out."""
    params = _flat_strings()
    missing = [key for key in COMMON if not params.get(key)]
    if missing:
        raise PlatformError("1001", f"缺少参数 {missing[0]}")
    credentials = outpatient.credentials
    if params["app_id"] != credentials.shenzhen_app_id:
        raise PlatformError("1005")
    if params["sign_type"] != SIGN_TYPE:
        raise PlatformError("1001", "sign_type 仅支持 HMAC-SHA256")
    if not TIMESTAMP.fullmatch(params["timestamp"]):
        raise PlatformError("1001", "timestamp 应为10位Unix秒")
    if not NONCE.fullmatch(params["nonce"]):
        raise PlatformError("1001", "nonce 应为16-32位字母或数字")
    expected = hmac.new(
        credentials.shenzhen_app_secret.encode(), string_to_sign(params).encode("utf-8"), hashlib.sha256
    ).hexdigest()
    if not SIGN.fullmatch(params["sign"]) or not hmac.compare_digest(params["sign"], expected):
        raise PlatformError("1002")
    if abs(time.time() - int(params["timestamp"])) > SIGNATURE_WINDOW_SECONDS:
        raise PlatformError("1003")
    if not outpatient.shenzhen_nonces.first_use(f"{params['app_id']}:{params['nonce']}"):
        raise PlatformError("1004")
    return params


def business_params(
    params: dict[str, str], required: tuple[str, ...], optional: tuple[str, ...] = ()
) -> dict[str, str]:
    """The action's own parameters: every required one present, nothing unknown."""
    unknown = sorted(key for key in params if key not in (*COMMON, *required, *optional))
    if unknown:
        raise PlatformError("1001", f"未知参数 {unknown[0]}")
    missing = [key for key in required if not params.get(key)]
    if missing:
        raise PlatformError("1001", f"缺少参数 {missing[0]}")
    return {key: params[key] for key in (*required, *optional) if params.get(key)}


def _flat_strings() -> dict[str, str]:
    try:
        body = json.loads(request.get_data())
    except (ValueError, RecursionError):
        raise PlatformError("1001", "请求体应为JSON对象") from None
    if not isinstance(body, dict):
        raise PlatformError("1001", "请求体应为JSON对象")
    for key, value in body.items():
        if not isinstance(value, str):
            raise PlatformError("1001", f"参数 {key} 应为字符串")
    return body


def _json(payload: dict[str, Any]) -> Response:
    return Response(json.dumps(payload, ensure_ascii=False), content_type="application/json;charset=UTF-8")
