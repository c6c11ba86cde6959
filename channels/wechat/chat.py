"""WeChat official-account messages: URL verification, plain and safe-mode pushes, passive and later replies.

The push's signature (or, in safe mode, its msg_signature) is checked with wechatpy before its
XML is read, and read with every DTD and entity refused (defusedxml): WeChat never sends one, so
one means a forged or hostile body. A signature older than five minutes is a replay.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from typing import Any
from xml.etree.ElementTree import ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException
from wechatpy.exceptions import InvalidSignatureException
from wechatpy.exceptions import WeChatException
from wechatpy.replies import TextReply
from wechatpy.utils import check_signature

from channels.calls import ChannelCalls
from channels.wechat.client import StableTokenClient
from channels.wechat.errors import from_wechat
from chat.ports import CLICK
from chat.ports import EVENT
from chat.ports import FOLLOW
from chat.ports import LOCATION
from chat.ports import TEXT
from chat.ports import UNFOLLOW
from chat.ports import ChatRefused
from chat.ports import Incoming
from errors import UpstreamRejected

# How old a push's signature may be: older is a replay (WeChat retries within seconds).
MAX_AGE_SECONDS = 300
# A message is a few hundred bytes; WeChat caps text at 2048 characters.
LARGEST_BODY = 16 * 1024
EVENTS = {"subscribe": FOLLOW, "unsubscribe": UNFOLLOW, "click": CLICK}
_DECLARATION = re.compile(rb"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_DIGITS = re.compile(r"[0-9]{1,20}")
_OPENID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_DEGREES = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,10})?")
# Customer-service messages: 45015 is "the follower has not written in 48 hours, or unfollowed".
REFUSALS = {
    code: (lambda code=code: UpstreamRejected("chat.not_sendable", f"WeChat refused the message ({code}).", "conflict"))
    for code in (40003, 45015, 45047, 43004)
}


class OfficialAccountChat:
    """One official account: reads its pushes, renders passive replies, asks who a follower is, sends later."""

    name = "wechat_official_account"
    channel = "wechat"

    def __init__(
        self,
        app_id: str,
        original_id: str,
        token: str,
        aes_key: str,
        client: StableTokenClient,
        calls: ChannelCalls,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.app_id, self.original_id, self.token = app_id, original_id, token
        self.crypto = WeChatCrypto(token, aes_key, app_id)
        self.client, self.calls = client, calls
        # Signatures are dated by WeChat's clock: their age is real time, whatever the app's business clock says.
        self.wall_clock = wall_clock

    def url_check(self, query: Mapping[str, str]) -> str:
        """The echostr to answer WeChat's server check with; ChatRefused for a forged or stale one."""
        self._signed(query)
        echo = query.get("echostr", "")
        if not _DIGITS.fullmatch(echo):
            raise ChatRefused("echostr is not WeChat's")
        return echo

    def read(self, query: Mapping[str, str], body: bytes) -> Incoming:
        """The pushed message, checked: signature and age, decryption in safe mode, the account and the sender."""
        if len(body) > LARGEST_BODY:
            raise ChatRefused("the body is too large")
        if _DECLARATION.search(body):  # WeChat's XML never declares a DTD or an entity
            raise ChatRefused("the body declares a DTD or entities")
        if query.get("encrypt_type") == "aes":
            self._fresh(query)
            try:
                plain = self.crypto.decrypt_message(
                    body, query.get("msg_signature", ""), query.get("timestamp", ""), query.get("nonce", "")
                )
            except (InvalidSignatureException, InvalidAppIdException) as refused:
                raise ChatRefused("the msg_signature or the app id does not match") from refused
            except Exception as garbled:  # noqa: BLE001 - wechatpy raises what its parser and cipher raise
                raise ChatRefused("the encrypted body cannot be read") from garbled
            xml = plain.encode() if isinstance(plain, str) else plain
            if _DECLARATION.search(xml):
                raise ChatRefused("the decrypted body declares a DTD or entities")
        else:
            self._signed(query)
            xml = body
        fields = _fields(xml)
        sender = fields.get("FromUserName", "")
        if fields.get("ToUserName") != self.original_id:
            raise ChatRefused("the message is for another account")
        if not _OPENID.fullmatch(sender) or sender != query.get("openid", sender):
            raise ChatRefused("the sender is not an openid")
        return _incoming(self.app_id, sender, fields)

    def passive(self, query: Mapping[str, str], user: str, text: str) -> str:
        """The answer to a push: the reply XML, encrypted when the push was; "success" for no reply."""
        if not text:
            return "success"
        now = int(self.wall_clock())
        xml = TextReply(source=self.original_id, target=user, content=text, time=now).render()
        if query.get("encrypt_type") == "aes":
            return str(self.crypto.encrypt_message(xml, query.get("nonce", ""), now))
        return str(xml)

    def unionid_of(self, user: str) -> str | None:
        """The follower's unionid from cgi-bin/user/info (None when the account has no Open Platform)."""

        def attempt() -> dict[str, Any]:
            try:
                return dict(self.client.user.get(user))
            except WeChatException as error:
                raise from_wechat(error) from error

        found = self.calls.call(self.app_id, "user_info", attempt)
        unionid = found.get("unionid")
        return unionid if isinstance(unionid, str) and _OPENID.fullmatch(unionid) else None

    def send_text(self, user: str, text: str) -> None:
        """A customer-service text message (cgi-bin/message/custom/send)."""

        def attempt() -> None:
            try:
                self.client.message.send_text(user, text)
            except WeChatException as error:
                raise from_wechat(error, REFUSALS) from error

        self.calls.call(self.app_id, "custom_send", attempt)

    def _signed(self, query: Mapping[str, str]) -> None:
        self._fresh(query)
        try:
            check_signature(self.token, query.get("signature", ""), query.get("timestamp", ""), query.get("nonce", ""))
        except InvalidSignatureException as refused:
            raise ChatRefused("the signature does not match") from refused

    def _fresh(self, query: Mapping[str, str]) -> None:
        stamp = query.get("timestamp", "")
        if not _DIGITS.fullmatch(stamp) or abs(self.wall_clock() - int(stamp)) > MAX_AGE_SECONDS:
            raise ChatRefused("the timestamp is missing or more than five minutes off")


def _fields(xml: bytes) -> dict[str, str]:
    try:
        root = fromstring(xml, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as garbled:
        raise ChatRefused("the body is not WeChat's XML") from garbled
    if root.tag != "xml":
        raise ChatRefused("the body is not WeChat's XML")
    return {child.tag: (child.text or "").strip() for child in root}


def _incoming(app_id: str, sender: str, fields: dict[str, str]) -> Incoming:
    created = fields.get("CreateTime", "")
    if not _DIGITS.fullmatch(created):
        raise ChatRefused("CreateTime is not a time")
    sent_at = datetime.fromtimestamp(int(created), UTC)
    kind = fields.get("MsgType", "")
    if kind == "event":
        event = fields.get("Event", "").lower()
        key = f"event:{sender}:{created}:{event}"
        return Incoming("wechat", app_id, sender, key, EVENT, sent_at, event=EVENTS.get(event, event)[:32],
                        event_key=fields.get("EventKey", "")[:64])  # fmt: skip
    msg_id = fields.get("MsgId", "")
    if not _DIGITS.fullmatch(msg_id):
        raise ChatRefused("a message without its MsgId")
    if kind == "location":
        latitude, longitude = fields.get("Location_X", ""), fields.get("Location_Y", "")
        if not (_DEGREES.fullmatch(latitude) and _DEGREES.fullmatch(longitude)):
            raise ChatRefused("the location is not in degrees")
        lat, lng = float(latitude), float(longitude)
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ChatRefused("the location is not on Earth")
        return Incoming("wechat", app_id, sender, msg_id, LOCATION, sent_at, latitude=lat, longitude=lng,
                        label=fields.get("Label", "")[:128])  # fmt: skip
    # Text, and anything else (an image, a voice) as text without words: it gets the help.
    return Incoming("wechat", app_id, sender, msg_id, TEXT, sent_at, text=fields.get("Content", "")[:2048])
