"""Alipay open-platform gateway conventions: RSA2 request signatures and signed response envelopes.

Requests: every parameter except `sign`, and except empty values, sorted by key, joined as
`k=v&k=v` with raw (decoded) values, verified as SHA256withRSA (PKCS#1 v1.5) with the app public key.

Responses: `{"<method with dots as underscores>_response":<inner>,"sign":"<RSA2 over inner>"}`,
built by concatenating text so the signed substring is byte-identical to what the client reads.
Clients such as python-alipay-sdk find the inner text with a naive brace counter, so braces
inside string values are written as JSON escapes (\\u007b, \\u007d), which keeps them out of
its count while decoding to the same strings.

Error placement follows what Alipay returns:
* gateway-level failures (missing parameters, bad signature, unknown method) and auth-code
  failures of alipay.system.oauth.token come as a signed `error_response`;
* an unknown app_id comes as an unsigned `<method>_response` (Alipay cannot sign for it);
* business failures come inside the signed `<method>_response` with code != 10000.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

from flask import Response
from flask import request

from sandbox.keys import sign_rsa2
from sandbox.keys import verify_rsa2
from sandbox.settings import AlipayApp
from sandbox.world import World

MSG = {
    "10000": "Success",
    "20000": "Service Currently Unavailable",
    "20001": "Insufficient Token Permissions",
    "40001": "Missing Required Arguments",
    "40002": "Invalid Arguments",
    "40004": "Business Failed",
    "40006": "Insufficient Permissions",
}

METHOD_NODE = "method"  # the error goes inside <method>_response
ERROR_NODE = "error"  # the error goes inside error_response


class AlipayError(Exception):
    """A failure Alipay reports inside a (usually signed) response envelope."""

    def __init__(self, code: str, sub_code: str, sub_msg: str, node: str = METHOD_NODE, signed: bool = True) -> None:
        super().__init__(sub_code)
        self.body = {"code": code, "msg": MSG[code], "sub_code": sub_code, "sub_msg": sub_msg}
        self.node = node
        self.signed = signed


def response_node(method: str) -> str:
    """alipay.trade.query -> alipay_trade_query_response."""
    return method.replace(".", "_") + "_response"


def alipay_json(value: Any) -> str:
    """Compact JSON with UTF-8 text, and braces inside strings escaped so brace counters stay right."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{alipay_json(str(k))}:{alipay_json(v)}" for k, v in value.items()) + "}"
    if isinstance(value, (list, tuple)):
        return "[" + ",".join(alipay_json(v) for v in value) + "]"
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False).replace("{", "\\u007b").replace("}", "\\u007d")
    return json.dumps(value)


def envelope(world: World, node: str, inner: dict[str, Any], signed: bool = True) -> Response:
    """The full gateway answer: the node's JSON text, then the signature over exactly that text."""
    text = alipay_json(inner)
    body = '{"' + node + '":' + text
    if signed:
        body += ',"sign":"' + sign_rsa2(world.keys.alipay_platform_key, text) + '"'
    body += "}"
    return Response(body.encode("utf-8"), content_type="text/html;charset=utf-8")


def error_envelope(world: World, method: str | None, error: AlipayError) -> Response:
    """Place an AlipayError where Alipay places it."""
    node = response_node(method) if method and error.node == METHOD_NODE else "error_response"
    return envelope(world, node, error.body, signed=error.signed)


def request_params() -> dict[str, str]:
    """Query string and form fields together: the SDK sends GET, other clients POST a form."""
    params = request.args.to_dict()
    params.update(request.form.to_dict())
    return params


def string_to_sign(params: dict[str, str]) -> str:
    """Sorted k=v pairs of every non-empty parameter except sign."""
    return "&".join(f"{k}={v}" for k, v in sorted(params.items()) if k != "sign" and v != "")


def signed_form(world: World, fields: dict[str, str]) -> bytes:
    """A form Alipay posts to a merchant (notifications, life-account messages), signed with the platform key."""
    # No empty field; signed over every other field but sign and sign_type, sorted by key, raw values.
    sent = {name: value for name, value in fields.items() if value != ""}
    unsigned = "&".join(f"{name}={value}" for name, value in sorted(sent.items()) if name != "sign_type")
    sent["sign"] = sign_rsa2(world.keys.alipay_platform_key, unsigned)
    return urlencode(sent).encode("ascii")


def authenticate(world: World, params: dict[str, str]) -> AlipayApp:
    """Check the common parameters and the signature; the calling app, or an AlipayError."""
    method = params.get("method")
    if not method:
        raise AlipayError("40001", "isv.missing-method", "缺少方法名参数", ERROR_NODE)
    if not params.get("app_id"):
        raise AlipayError("40001", "isv.missing-app-id", "缺少appId参数", ERROR_NODE)
    app = world.config.alipay_app(params["app_id"])
    if app is None:
        raise AlipayError("40002", "isv.invalid-app-id", "无效的AppID参数", METHOD_NODE, signed=False)
    required = (
        ("sign", "isv.missing-signature", "缺少签名参数"),
        ("sign_type", "isv.missing-signature-type", "缺少签名类型参数"),
        ("timestamp", "isv.missing-timestamp", "缺少时间戳参数"),
        ("version", "isv.missing-version", "缺少版本参数"),
    )
    for key, sub_code, sub_msg in required:
        if not params.get(key):
            raise AlipayError("40001", sub_code, sub_msg, ERROR_NODE)
    if params["sign_type"] != "RSA2":
        raise AlipayError("40002", "isv.invalid-signature-type", "无效的签名类型参数", ERROR_NODE)
    try:
        # Only the format is checked: python-alipay-sdk stamps local time, not Beijing time.
        datetime.strptime(params["timestamp"], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        raise AlipayError("40002", "isv.invalid-timestamp", "非法的时间戳参数", ERROR_NODE) from None
    if params.get("charset", "utf-8").lower() not in ("utf-8", "utf8"):
        raise AlipayError("40002", "isv.invalid-charset", "字符集错误", ERROR_NODE)
    unsigned = string_to_sign(params)
    if not verify_rsa2(world.keys.alipay_app_public_key, unsigned, params["sign"]):
        raise AlipayError(
            "40002",
            "isv.invalid-signature",
            f"验签出错，建议检查签名字符串或签名私钥与应用公钥是否匹配，网关生成的验签字符串为：{unsigned}",
            ERROR_NODE,
        )
    return app


def biz_content(params: dict[str, str]) -> dict[str, Any]:
    """The decoded biz_content object ({} when absent)."""
    raw = params.get("biz_content") or "{}"
    try:
        value = json.loads(raw)
    except ValueError:
        raise AlipayError("40002", "isv.invalid-biz-content", "biz_content不是合法的JSON", ERROR_NODE) from None
    if not isinstance(value, dict):
        raise AlipayError("40002", "isv.invalid-biz-content", "biz_content不是合法的JSON对象", ERROR_NODE)
    return value
