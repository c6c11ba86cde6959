"""WeChat pushing what a user sends an official account to its server (citytiles), and reading the passive reply.

`POST {citytiles_url}/channels/wechat/<app_id>/messages?signature&timestamp&nonce&openid`, in safe
mode also `&encrypt_type=aes&msg_signature`, body the message XML (`text/xml`). Each try has its own
timestamp, nonce and signatures; the XML (MsgId, CreateTime, Encrypt) is the same on every try.

The answer: HTTP 200 with an empty body or `success` takes the message without a reply. Anything
else must be a passive reply to that user from that account (encrypted when the push was); if it
is not, the user sees "该公众号暂时无法提供服务，请稍后再试" and WeChat does not try again.
"""

from __future__ import annotations

import secrets
import time
import xml.etree.ElementTree as ElementTree

from sandbox.chat_messages import UserMessage
from sandbox.chat_messages import follow_effect
from sandbox.chat_messages import has_msg_id
from sandbox.chat_messages import wechat_encrypted_xml
from sandbox.chat_messages import wechat_xml
from sandbox.chat_push import ACCEPTED
from sandbox.chat_push import FAILED
from sandbox.chat_push import REPLIED
from sandbox.chat_push import TRIES
from sandbox.chat_push import ChatResult
from sandbox.chat_push import Push
from sandbox.chat_push import Try
from sandbox.chat_push import push
from sandbox.chat_push import timestamp_and_nonce
from sandbox.official_account_keys import OfficialAccountKeys
from sandbox.settings import WeChatApp
from sandbox.wechat_crypto import UndecryptableMessage
from sandbox.wechat_crypto import decrypt
from sandbox.wechat_crypto import encrypt
from sandbox.wechat_crypto import wechat_signature
from sandbox.world import World

CHANNEL = "wechat"
XML_HEADERS = {"Content-Type": "text/xml"}
NO_REPLY = (b"", b"success")
# Passive reply types WeChat shows; only a text reply's content is read.
REPLY_TYPES = ("text", "image", "voice", "video", "music", "news", "transfer_customer_service")


class BadReply(ValueError):
    """An answer WeChat would not show the user."""


def messages_url(world: World, app_id: str) -> str:
    """Where WeChat pushes the account's messages."""
    return world.config.citytiles_url.rstrip("/") + f"/channels/wechat/{app_id}/messages"


def push_to_official_account(
    world: World, app: WeChatApp, openid: str, message: UserMessage, encrypted: bool
) -> ChatResult:
    """The user sends message to the account: push it to citytiles and read the answer."""
    keys, original_id = world.official_account_keys[app.app_id], app.original_id or ""
    now = time.time()
    world.followers.heard(CHANNEL, app.app_id, openid, follow_effect(message), now)
    msg_id = world.message_ids.new() if has_msg_id(message) else None
    xml = wechat_xml(original_id, openid, int(now), message, msg_id)
    sealed = encrypt(keys.aes_key, app.app_id, xml) if encrypted else None
    body = wechat_encrypted_xml(original_id, sealed) if sealed is not None else xml

    def one_try() -> Push:
        timestamp, nonce = timestamp_and_nonce()
        query = {"signature": wechat_signature(keys.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
        query["openid"] = openid
        if sealed is not None:
            query.update(encrypt_type="aes", msg_signature=wechat_signature(keys.token, timestamp, nonce, sealed))
        return Push("POST", messages_url(world, app.app_id), query, XML_HEADERS, body.encode("utf-8"))

    first = one_try()
    tries = push(first, one_try, world.config.chat_reply_timeout_seconds)
    try:
        outcome, reply = _read_answer(tries[-1], keys, app, openid, encrypted)
    except BadReply as bad:
        return ChatResult(openid, msg_id, first, tries, FAILED, None, str(bad))
    return ChatResult(openid, msg_id, first, tries, outcome, reply, None)


def verify_server(world: World, app: WeChatApp) -> dict[str, object]:
    """WeChat checking the account's server URL: GET with signature, timestamp, nonce, echostr; echostr back."""
    keys = world.official_account_keys[app.app_id]
    timestamp, nonce = timestamp_and_nonce()
    echostr = str(secrets.randbits(63))
    query = {"signature": wechat_signature(keys.token, timestamp, nonce), "timestamp": timestamp, "nonce": nonce}
    query["echostr"] = echostr
    sent = Push("GET", messages_url(world, app.app_id), query, {}, b"")
    [made] = push(sent, lambda: sent, world.config.chat_reply_timeout_seconds, tries=1)
    reason = None
    if made.status != 200:
        reason = f"no answer ({made.error})" if made.status is None else f"HTTP {made.status}"
    elif made.answer != echostr.encode("ascii"):
        reason = "the body is not the echostr"
    return {
        "app_id": app.app_id,
        "passed": reason is None,
        "reason": reason,
        "pushed": sent.describe(),
        "tries": [made.describe()],
    }


def _read_answer(
    made: Try, keys: OfficialAccountKeys, app: WeChatApp, openid: str, encrypted: bool
) -> tuple[str, dict[str, str | None] | None]:
    if made.status is None:
        raise BadReply(f"no answer in {TRIES} tries ({made.error})")
    if made.status != 200:
        raise BadReply(f"HTTP {made.status}")
    if made.answer in NO_REPLY:
        return ACCEPTED, None
    fields = _fields(made.answer)
    if encrypted:
        fields = _fields(_opened(fields, keys, app).encode("utf-8"))
    elif "Encrypt" in fields:
        raise BadReply("an encrypted reply to a plain push")
    if fields.get("ToUserName") != openid:
        raise BadReply("a reply to another user")
    if fields.get("FromUserName") != app.original_id:
        raise BadReply("a reply from another account")
    created = fields.get("CreateTime", "")
    if not (created.isascii() and created.isdigit()):
        raise BadReply("CreateTime is not a whole number of seconds")
    msg_type = fields.get("MsgType", "")
    if msg_type not in REPLY_TYPES:
        raise BadReply(f"MsgType {msg_type!r} is no reply type")
    if msg_type == "text" and not fields.get("Content"):
        raise BadReply("a text reply without Content")
    return REPLIED, {"msg_type": msg_type, "content": fields.get("Content") if msg_type == "text" else None}


def _opened(envelope: dict[str, str], keys: OfficialAccountKeys, app: WeChatApp) -> str:
    """The plain reply inside an encrypted one, once its signature and app id check out."""
    missing = [name for name in ("Encrypt", "MsgSignature", "TimeStamp", "Nonce") if not envelope.get(name)]
    if missing:
        raise BadReply("the push was encrypted: the reply needs " + ", ".join(missing))
    expected = wechat_signature(keys.token, envelope["TimeStamp"], envelope["Nonce"], envelope["Encrypt"])
    if not secrets.compare_digest(expected, envelope["MsgSignature"]):
        raise BadReply("MsgSignature does not match")
    try:
        xml, app_id = decrypt(keys.aes_key, envelope["Encrypt"])
    except UndecryptableMessage as bad:
        raise BadReply(f"Encrypt cannot be decrypted: {bad}") from None
    if app_id != app.app_id:
        raise BadReply("the encrypted reply names another app id")
    return xml


def _fields(answer: bytes) -> dict[str, str]:
    """The child elements of an <xml> answer, by tag."""
    if b"<!DOCTYPE" in answer.upper():
        raise BadReply("a DOCTYPE in the reply")  # no entity expansion from an answer
    try:
        root = ElementTree.fromstring(answer)
    except ElementTree.ParseError:
        raise BadReply("the answer is neither empty, success, nor XML") from None
    if root.tag != "xml":
        raise BadReply("the reply's root is not <xml>")
    return {child.tag: (child.text or "") for child in root}
