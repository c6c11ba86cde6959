"""WeChat Pay API v3 conventions: signed requests, signed answers, {code, message} errors, encrypted resources.

Requests carry `Authorization: WECHATPAY2-SHA256-RSA2048 mchid="..",nonce_str="..",signature="..",
timestamp="..",serial_no=".."`; the signature is SHA256withRSA (PKCS#1 v1.5) by the merchant API key over
`METHOD\\nPATH?QUERY\\nTIMESTAMP\\nNONCE\\nBODY\\n`, checked here against the raw request line and the raw
body bytes (wechatpayv3 signs `json.dumps(data)` and sends exactly those bytes, so re-serialising would
break it). Anything wrong with it is 401 SIGN_ERROR.

Every answer, errors and 204 No Content included, is signed with the private half of the "WeChat Pay
public key" over `TIMESTAMP\\nNONCE\\nBODY\\n` and carries Wechatpay-Timestamp, -Nonce, -Signature,
-Serial (the public key id), -Signature-Type and Request-ID. Notifications are signed the same way.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import string
import time
from collections.abc import Callable
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from flask import Response
from flask import request

from sandbox.outage import answer_down
from sandbox.pay_keys import WeChatPayKeys
from sandbox.world import World

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# A request signed further than this from the sandbox's clock is refused (replayed or a wrong clock).
CLOCK_SKEW_SECONDS = 300
_AUTHORIZATION = re.compile(r'WECHATPAY2-SHA256-RSA2048 ((?:[a-z_]+="[^"]*",)*[a-z_]+="[^"]*")')
_AUTHORIZATION_FIELD = re.compile(r'([a-z_]+)="([^"]*)"')
_AUTHORIZATION_FIELDS = ("mchid", "nonce_str", "signature", "timestamp", "serial_no")
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_NONCE_ALPHABET = string.ascii_letters + string.digits

Handler = Callable[[WeChatPayKeys], tuple[int, dict[str, Any] | None]]


class WeChatPayError(Exception):
    """An error answer: HTTP status and {code, message, detail?}."""

    def __init__(self, status: int, code: str, message: str, detail: dict[str, Any] | None = None) -> None:
        super().__init__(code)
        self.status = status
        self.body: dict[str, Any] = {"code": code, "message": message}
        if detail is not None:
            self.body["detail"] = detail


def param_error(field: str, issue: str, location: str = "body") -> WeChatPayError:
    """400 PARAM_ERROR naming the field (as /amount/total) and what is wrong with it."""
    return WeChatPayError(
        400, "PARAM_ERROR", f"输入源“/{location}{field}”校验失败：{issue}", {"location": location, "field": field}
    )


def sign_error(message: str) -> WeChatPayError:
    """401 SIGN_ERROR."""
    return WeChatPayError(401, "SIGN_ERROR", message)


def serve(world: World, target: str, handler: Handler, busy: WeChatPayError | None = None) -> Response:
    """Act out a fault on target, check the caller's signature, run handler and sign what it answers.

    An "error" fault answers busy (default: 500 SYSTEM_ERROR).
    """
    signer = signing_keys(world)
    effect = world.faults.take(target)
    if effect is not None and effect.mode == "down":
        return answer_down(effect)
    if effect is not None and effect.mode == "slow":
        time.sleep(effect.delay_seconds)
    elif effect is not None:
        failure = busy or WeChatPayError(500, "SYSTEM_ERROR", "系统错误")
        return signed_answer(signer, failure.status, failure.body)
    try:
        keys = authenticate(world)
        status, payload = handler(keys)
    except WeChatPayError as error:
        return signed_answer(signer, error.status, error.body)
    return signed_answer(keys, status, payload)


def authenticate(world: World) -> WeChatPayKeys:
    """The merchant whose key signed this request, or a SIGN_ERROR."""
    match = _AUTHORIZATION.fullmatch(request.headers.get("Authorization", ""))
    if match is None:
        raise sign_error("Authorization头缺失或格式不正确，应为WECHATPAY2-SHA256-RSA2048认证信息")
    pairs = _AUTHORIZATION_FIELD.findall(match.group(1))
    fields = dict(pairs)
    if len(fields) != len(pairs) or any(not fields.get(name) for name in _AUTHORIZATION_FIELDS):
        raise sign_error("Authorization头缺少mchid、nonce_str、signature、timestamp或serial_no")
    keys = world.wechat_pay_keys.get(fields["mchid"])
    if keys is None:
        raise sign_error("商户号不存在或未开通API v3")
    if fields["serial_no"].upper() != keys.merchant_serial_no:
        raise sign_error("商户API证书序列号有误或已失效")
    timestamp = fields["timestamp"]
    if not _TIMESTAMP.fullmatch(timestamp) or abs(time.time() - int(timestamp)) > CLOCK_SKEW_SECONDS:
        raise sign_error("请求时间戳与当前时间相差过大")
    signed = b"\n".join(
        (request.method.encode(), raw_target(), timestamp.encode(), fields["nonce_str"].encode(), request.get_data())
    )
    signed += b"\n"
    try:
        signature = base64.b64decode(fields["signature"], validate=True)
        keys.merchant_public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
    except (InvalidSignature, ValueError):
        raise sign_error("错误的签名，验签失败") from None
    return keys


def raw_target() -> bytes:
    """The path and query exactly as the request line had them (what the caller signed)."""
    environ = request.environ
    # WSGI strings hold the raw bytes as latin-1. Without RAW_URI (an in-process test client), rebuild it.
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not raw:
        query = environ.get("QUERY_STRING", "")
        raw = environ.get("PATH_INFO", "") + ("?" + query if query else "")
    return str(raw).encode("latin-1")


def request_json() -> dict[str, Any]:
    """The request body as a JSON object, or PARAM_ERROR."""
    try:
        body = json.loads(request.get_data() or b"null")
    except (ValueError, RecursionError):
        raise WeChatPayError(400, "PARAM_ERROR", "请求体不是合法的JSON") from None
    if not isinstance(body, dict):
        raise WeChatPayError(400, "PARAM_ERROR", "请求体必须是JSON对象")
    return body


def compact_json(payload: dict[str, Any]) -> bytes:
    """UTF-8 JSON without spaces, as WeChat Pay sends it."""
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def signature_headers(keys: WeChatPayKeys, body: bytes) -> dict[str, str]:
    """The Wechatpay-* headers over body, with a fresh timestamp and nonce."""
    timestamp, nonce = str(int(time.time())), secrets.token_hex(16)
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    signature = keys.wechatpay_private_key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return {
        "Wechatpay-Timestamp": timestamp,
        "Wechatpay-Nonce": nonce,
        "Wechatpay-Signature": base64.b64encode(signature).decode("ascii"),
        "Wechatpay-Serial": keys.public_key_id,
        "Wechatpay-Signature-Type": SIGNATURE_TYPE,
    }


def signed_answer(keys: WeChatPayKeys, status: int, payload: dict[str, Any] | None) -> Response:
    """An answer signed over its exact body; None is 204 No Content, signed over the empty body."""
    body = b"" if payload is None else compact_json(payload)
    response = Response(body, status=status)
    if payload is None:
        del response.headers["Content-Type"]
    else:
        response.headers["Content-Type"] = "application/json; charset=utf-8"
    response.headers.update(signature_headers(keys, body))
    response.headers["Request-ID"] = secrets.token_hex(16).upper()
    return response


def encrypt_resource(apiv3_key: str, original_type: str, plaintext: bytes) -> dict[str, str]:
    """A notification's resource: AEAD_AES_256_GCM with the APIv3 key, the original type as associated data."""
    nonce = "".join(secrets.choice(_NONCE_ALPHABET) for _ in range(12))
    sealed = AESGCM(apiv3_key.encode("ascii")).encrypt(nonce.encode("ascii"), plaintext, original_type.encode())
    return {
        "original_type": original_type,
        "algorithm": "AEAD_AES_256_GCM",
        "ciphertext": base64.b64encode(sealed).decode("ascii"),
        "associated_data": original_type,
        "nonce": nonce,
    }


def signing_keys(world: World) -> WeChatPayKeys:
    """The keys to sign an answer with before the caller's signature is checked: the merchant it names, or the first."""
    named = _AUTHORIZATION_FIELD.findall(request.headers.get("Authorization", ""))
    mch_id = dict(named).get("mchid", "")
    return world.wechat_pay_keys.get(mch_id) or next(iter(world.wechat_pay_keys.values()))
