"""Alipay pushing what a user sends a life account (生活号) to its gateway (citytiles), and the gateway check.

`POST {citytiles_url}/channels/alipay/<app_id>/gateway`, a form (`service`, `charset`, `sign_type`,
`biz_content`, `sign`) signed with the platform key exactly as payment notifications are. citytiles
answers with an `<alipay>` document whose `<response>...</response>` characters it signs with the
app private key; the platform verifies that with the app public key. Life accounts have no passive
replies: a verified `<success>true</success>` takes the message, anything else fails it.
"""

from __future__ import annotations

import base64
import secrets
import time
import xml.etree.ElementTree as ElementTree

from cryptography.hazmat.primitives import serialization

from sandbox.alipay_wire import signed_form
from sandbox.chat_messages import UserMessage
from sandbox.chat_messages import alipay_biz_content
from sandbox.chat_messages import alipay_gateway_check
from sandbox.chat_messages import follow_effect
from sandbox.chat_messages import has_msg_id
from sandbox.chat_push import ACCEPTED
from sandbox.chat_push import FAILED
from sandbox.chat_push import TRIES
from sandbox.chat_push import ChatResult
from sandbox.chat_push import Push
from sandbox.chat_push import Try
from sandbox.chat_push import push
from sandbox.keys import verify_rsa2
from sandbox.settings import AlipayApp
from sandbox.world import World

CHANNEL = "alipay"
MESSAGE_SERVICE = "alipay.mobile.public.message.notify"
CHECK_SERVICE = "alipay.service.check"
FORM_HEADERS = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


class BadAcknowledgement(ValueError):
    """An answer the platform does not take as the gateway's."""


def gateway_url(world: World, app_id: str) -> str:
    """Where Alipay pushes the life account's messages."""
    return world.config.citytiles_url.rstrip("/") + f"/channels/alipay/{app_id}/gateway"


def app_public_key_text(world: World) -> str:
    """The app public key as the gateway check wants it back: base64 DER SubjectPublicKeyInfo, one line."""
    der = world.keys.alipay_app_public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(der).decode("ascii")


def push_to_life_account(world: World, app: AlipayApp, user_id: str, message: UserMessage) -> ChatResult:
    """The user sends message to the life account: push it to citytiles and read the acknowledgement."""
    now = time.time()
    world.followers.heard(CHANNEL, app.app_id, user_id, follow_effect(message), now)
    msg_id = world.message_ids.new() if has_msg_id(message) else None
    biz = alipay_biz_content(app.app_id, user_id, int(now * 1000), message, msg_id)
    first, tries = _pushed(world, app, MESSAGE_SERVICE, biz, TRIES)
    try:
        _acknowledged(world, tries[-1], None)
    except BadAcknowledgement as bad:
        return ChatResult(user_id, msg_id, first, tries, FAILED, None, str(bad))
    return ChatResult(user_id, msg_id, first, tries, ACCEPTED, None, None)


def verify_gateway(world: World, app: AlipayApp) -> dict[str, object]:
    """Alipay checking the life account's gateway: it must answer the app public key, signed."""
    user_id = "2088" + "".join(secrets.choice("0123456789") for _ in range(12))
    biz = alipay_gateway_check(app.app_id, user_id, int(time.time() * 1000))
    sent, [made] = _pushed(world, app, CHECK_SERVICE, biz, 1)
    try:
        _acknowledged(world, made, app_public_key_text(world))
        reason = None
    except BadAcknowledgement as bad:
        reason = str(bad)
    return {
        "app_id": app.app_id,
        "passed": reason is None,
        "reason": reason,
        "pushed": sent.describe(),
        "tries": [made.describe()],
    }


def _pushed(world: World, app: AlipayApp, service: str, biz: str, tries: int) -> tuple[Push, list[Try]]:
    fields = {"service": service, "charset": "UTF-8", "sign_type": "RSA2", "biz_content": biz}

    def one_try() -> Push:
        return Push("POST", gateway_url(world, app.app_id), {}, FORM_HEADERS, signed_form(world, fields))

    first = one_try()
    return first, push(first, one_try, world.config.chat_reply_timeout_seconds, tries)


def _acknowledged(world: World, made: Try, public_key: str | None) -> None:
    """Check the gateway's answer: signed <response> with success true (and the app public key, for the check)."""
    if made.status is None:
        raise BadAcknowledgement(f"no answer ({made.error})")
    if made.status != 200:
        raise BadAcknowledgement(f"HTTP {made.status}")
    try:
        text = made.answer.decode("utf-8")
    except UnicodeDecodeError:
        raise BadAcknowledgement("the answer is not UTF-8") from None
    start, end = text.find("<response>"), text.find("</response>")
    if start < 0 or end < start:
        raise BadAcknowledgement("no <response>...</response> in the answer")
    signed = text[start : end + len("</response>")]
    root = _document(made.answer)
    response = root.find("response")
    if response is None:
        raise BadAcknowledgement("no <response> under <alipay>")
    if root.findtext("sign_type") != "RSA2":
        raise BadAcknowledgement("sign_type is not RSA2")
    if not verify_rsa2(world.keys.alipay_app_public_key, signed, root.findtext("sign") or ""):
        raise BadAcknowledgement("the sign does not verify with the app public key over <response>...</response>")
    if response.findtext("success") != "true":
        raise BadAcknowledgement("success is not true")
    if public_key is not None and response.findtext("biz_content") != public_key:
        raise BadAcknowledgement("biz_content is not the app public key (base64 DER, one line)")


def _document(answer: bytes) -> ElementTree.Element:
    if b"<!DOCTYPE" in answer.upper():
        raise BadAcknowledgement("a DOCTYPE in the answer")  # no entity expansion from an answer
    try:
        root = ElementTree.fromstring(answer)
    except ElementTree.ParseError:
        raise BadAcknowledgement("the answer is not XML") from None
    if root.tag != "alipay":
        raise BadAcknowledgement("the answer's root is not <alipay>")
    return root
