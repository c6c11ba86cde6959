"""Alipay life-account (生活号) pushes: the gateway check and message notifications, RSA2-checked; replies sent later.

Alipay posts a form signed (RSA2, its platform key) over every field but sign and sign_type; the
signature is checked with python-alipay-sdk before the XML in biz_content is read, and that XML is
read with every DTD and entity refused (defusedxml): Alipay never sends one. Alipay takes no reply
in the answer to a push: citytiles answers with an acknowledgement signed by the app's key, and
every reply goes later as a customer-service message (alipay.open.public.message.custom.send).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import datetime
from xml.etree.ElementTree import Element
from xml.etree.ElementTree import ParseError

from alipay import AliPay
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from channels.alipay.errors import BUSINESS_FAILED
from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay
from channels.calls import ChannelCalls
from channels.calls import answer_fields
from chat.ports import CLICK
from chat.ports import EVENT
from chat.ports import FOLLOW
from chat.ports import LOCATION
from chat.ports import TEXT
from chat.ports import UNFOLLOW
from chat.ports import ChatRefused
from chat.ports import Incoming
from errors import DomainError
from errors import UpstreamRejected
from errors import UpstreamUnavailable

GATEWAY_CHECK, MESSAGE_NOTIFY = "alipay.service.check", "alipay.mobile.public.message.notify"
CUSTOM_SEND = "alipay.open.public.message.custom.send"
SUCCESS = "10000"
# A message is a few hundred bytes of XML; Alipay caps a text at 2000 characters.
LARGEST_XML = 16 * 1024
EVENTS = {"follow": FOLLOW, "unfollow": UNFOLLOW, "click": CLICK}
# Applied with fullmatch: an Alipay user id, the follower's id in every app of the channel.
_USER_ID = re.compile(r"2088[0-9]{12}")
_DECLARATION = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
# Milliseconds since 1970 (up to the year 2286, so always a date); a message id, at most 64 characters.
_MILLIS = re.compile(r"[0-9]{1,13}")
_MSG_ID = re.compile(r"[0-9A-Za-z_-]{1,64}")
_DEGREES = re.compile(r"-?[0-9]{1,3}(\.[0-9]{1,15})?")
# custom.send's final answers (code 40004): the user does not follow the account (any more).
REFUSALS: Mapping[str, Callable[[], DomainError]] = {
    "PUBLIC.USER_NOT_FOLLOW": lambda: UpstreamRejected(
        "chat.not_sendable", "The follower no longer follows the life account.", "conflict"
    ),
}


class LifeAccountChat:
    """One life account: checks and reads its pushes, signs its answers, sends replies later."""

    name = "alipay_life_account"
    channel = "alipay"

    def __init__(self, app_id: str, client: AliPay, app_private_key: str, calls: ChannelCalls) -> None:
        self.app_id, self.client, self.calls = app_id, client, calls
        key = serialization.load_pem_private_key(app_private_key.encode(), password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"the app private key of {app_id} is not an RSA key")
        self._key = key
        # What the gateway check answers with: the app public key as Alipay shows it (DER, base64, one line).
        der = key.public_key().public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.public_key = base64.b64encode(der).decode("ascii")

    def gateway_check(self, form: Mapping[str, str]) -> str:
        """The signed answer to Alipay's gateway verification (verifygw): the app public key."""
        fields = self._verified(form, GATEWAY_CHECK)
        if fields.get("MsgType") != "event" or fields.get("EventType") != "verifygw":
            raise ChatRefused("the gateway check is not a verifygw event")
        return self._signed(f"<biz_content>{self.public_key}</biz_content><success>true</success>")

    def read(self, form: Mapping[str, str]) -> Incoming:
        """The pushed message, checked: signature, the account and the sender."""
        return _incoming(self.app_id, self._verified(form, MESSAGE_NOTIFY))

    def acknowledgement(self) -> str:
        """The signed answer to a message taken in; without it Alipay sends the message again."""
        return self._signed("<success>true</success>")

    def unionid_of(self, user: str) -> str | None:
        """The follower's user_id: already Alipay's id across the channel's apps, so nothing is asked."""
        return user

    def send_text(self, user: str, text: str) -> None:
        """A customer-service text message (alipay.open.public.message.custom.send)."""
        biz_content = {"to_user_id": user, "msg_type": "text", "text": {"content": text}}

        def attempt() -> None:
            try:
                answer = self.client.server_api(CUSTOM_SEND, biz_content=biz_content)
            except SDK_FAILURES as error:
                raise from_alipay(error, self.app_id, REFUSALS) from error
            answer = answer_fields("alipay", "message.custom.send", answer, "code")
            if answer["code"] == SUCCESS:
                return
            # A signed business error comes back as an answer, not as the SDK's exception.
            refusal = REFUSALS.get(str(answer.get("sub_code", ""))) if answer["code"] == BUSINESS_FAILED else None
            if refusal is not None:
                raise refusal()
            raise UpstreamUnavailable("channel.unavailable", "Alipay refused the message.", retry_after=30)

        self.calls.call(self.app_id, "custom_send", attempt)

    def _verified(self, form: Mapping[str, str], service: str) -> dict[str, str]:
        """The biz_content's fields once the form's signature is Alipay's and the XML is this account's."""
        fields = dict(form)
        signature = fields.pop("sign", "")
        if fields.get("service") != service or fields.get("sign_type") != "RSA2" or not signature:
            raise ChatRefused("the push is unsigned, or not RSA2, or not this service")
        if fields.get("charset", "UTF-8").upper() != "UTF-8":
            raise ChatRefused("the push is not in UTF-8")
        try:
            # verify() pops sign_type from the dict it is given; a sign that is not base64 raises.
            verified = self.client.verify(fields, signature)
        except Exception as error:  # noqa: BLE001 - the SDK raises what base64 and its key raise
            raise ChatRefused("the signature cannot be read") from error
        if not verified:
            raise ChatRefused("the signature does not match")
        xml = _fields(fields.get("biz_content", ""))
        if xml.get("AppId") != self.app_id:
            raise ChatRefused("the push is for another account")
        if not _USER_ID.fullmatch(xml.get("FromUserId", "")):
            raise ChatRefused("the sender is not an Alipay user id")
        return xml

    def _signed(self, response: str) -> str:
        """Alipay's answer envelope, its RSA2 signature by the app's key over <response>…</response>."""
        signed = f"<response>{response}</response>"
        signature = self._key.sign(signed.encode("utf-8"), padding.PKCS1v15(), hashes.SHA256())
        return (
            f'<?xml version="1.0" encoding="UTF-8"?><alipay>{signed}'
            f"<sign>{base64.b64encode(signature).decode('ascii')}</sign><sign_type>RSA2</sign_type></alipay>"
        )


def _fields(xml: str) -> dict[str, str]:
    """The XML's fields by name; a text's Content is under Text."""
    if len(xml) > LARGEST_XML:
        raise ChatRefused("the XML is too large")
    if _DECLARATION.search(xml):  # Alipay's XML never declares a DTD or an entity
        raise ChatRefused("the XML declares a DTD or entities")
    try:
        root: Element = fromstring(xml.encode("utf-8"), forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as garbled:
        raise ChatRefused("the biz_content is not Alipay's XML") from garbled
    if root.tag != "XML":
        raise ChatRefused("the biz_content is not Alipay's XML")
    fields = {child.tag: (child.text or "").strip() for child in root}
    content = root.find("Text/Content")
    fields["Content"] = (content.text or "").strip() if content is not None else ""
    return fields


def _incoming(app_id: str, fields: dict[str, str]) -> Incoming:
    sender, created = fields["FromUserId"], fields.get("CreateTime", "")
    if not _MILLIS.fullmatch(created):
        raise ChatRefused("CreateTime is not a time")
    # Alipay's CreateTime is in milliseconds.
    sent_at = datetime.fromtimestamp(int(created) / 1000, UTC)
    kind = fields.get("MsgType", "")
    if kind == "event":
        event = fields.get("EventType", "").lower()
        key = f"event:{sender}:{created}:{event}"
        return Incoming("alipay", app_id, sender, key, EVENT, sent_at, event=EVENTS.get(event, event)[:32],
                        event_key=fields.get("ActionParam", "")[:64])  # fmt: skip
    msg_id = fields.get("MsgId", "")
    if not _MSG_ID.fullmatch(msg_id):
        raise ChatRefused("a message without its MsgId")
    if kind == "location":
        latitude, longitude = fields.get("Latitude", ""), fields.get("Longitude", "")
        if not (_DEGREES.fullmatch(latitude) and _DEGREES.fullmatch(longitude)):
            raise ChatRefused("the location is not in degrees")
        lat, lng = float(latitude), float(longitude)
        if not (-90 <= lat <= 90 and -180 <= lng <= 180):
            raise ChatRefused("the location is not on Earth")
        return Incoming("alipay", app_id, sender, msg_id, LOCATION, sent_at, latitude=lat, longitude=lng,
                        label=fields.get("Label", "")[:128])  # fmt: skip
    # Text, and anything else (an image) as text without words: it gets the help.
    return Incoming("alipay", app_id, sender, msg_id, TEXT, sent_at, text=fields["Content"][:2048])
