"""What a user sends an account, written as each platform pushes it: WeChat's message XML, Alipay's biz_content.

WeChat (official account): `<xml>` with ToUserName (the gh_ id), FromUserName (openid), CreateTime
(seconds), MsgType and the type's fields; texts in CDATA, numbers bare. Alipay (life account):
`<XML>` with AppId, FromUserId (user_id), CreateTime (milliseconds), MsgType and the type's fields,
every value in CDATA.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sandbox.followers import MESSAGE
from sandbox.followers import SUBSCRIBE
from sandbox.followers import UNSUBSCRIBE

CLICK = "click"
EVENT_TYPES = (SUBSCRIBE, UNSUBSCRIBE, CLICK)
SCALE = 15  # the map zoom WeChat sends with a shared location


@dataclass(frozen=True)
class Text:
    """A text message."""

    content: str


@dataclass(frozen=True)
class Location:
    """A shared location."""

    latitude: float
    longitude: float
    label: str = ""


@dataclass(frozen=True)
class Event:
    """Follow, unfollow, or a menu click (with the menu item's key)."""

    type: str  # one of EVENT_TYPES
    key: str | None = None


UserMessage = Text | Location | Event


def follow_effect(message: UserMessage) -> str:
    """What the message does to the user's following: SUBSCRIBE, UNSUBSCRIBE or MESSAGE."""
    if isinstance(message, Event) and message.type in (SUBSCRIBE, UNSUBSCRIBE):
        return message.type
    return MESSAGE


def has_msg_id(message: UserMessage) -> bool:
    """Messages carry a MsgId; events do not."""
    return not isinstance(message, Event)


def cdata(value: str) -> str:
    """value in a CDATA section (a "]]>" inside is split across two sections)."""
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


def coordinate(value: float) -> str:
    """A latitude or longitude as the platforms write them: six decimals."""
    return f"{value:.6f}"


def wechat_xml(original_id: str, openid: str, create_time: int, message: UserMessage, msg_id: str | None) -> str:
    """The plain XML WeChat pushes to the account's server."""
    head = (
        f"<ToUserName>{cdata(original_id)}</ToUserName><FromUserName>{cdata(openid)}</FromUserName>"
        f"<CreateTime>{create_time}</CreateTime>"
    )
    tail = f"<MsgId>{msg_id}</MsgId>" if msg_id is not None else ""
    return "<xml>" + head + _WECHAT_FIELDS[type(message)](message) + tail + "</xml>"


def wechat_encrypted_xml(original_id: str, encrypted: str) -> str:
    """The safe-mode body: the account and the Encrypt text only."""
    return f"<xml><ToUserName>{cdata(original_id)}</ToUserName><Encrypt>{cdata(encrypted)}</Encrypt></xml>"


def alipay_biz_content(app_id: str, user_id: str, create_time_ms: int, message: UserMessage, msg_id: str | None) -> str:
    """The biz_content XML of alipay.mobile.public.message.notify."""
    head = (
        f"<AppId>{cdata(app_id)}</AppId><FromUserId>{cdata(user_id)}</FromUserId>"
        f"<CreateTime>{cdata(str(create_time_ms))}</CreateTime>"
    )
    msg = f"<MsgId>{cdata(msg_id)}</MsgId>" if msg_id is not None else ""
    return "<XML>" + head + _ALIPAY_FIELDS[type(message)](message) + msg + "</XML>"


def alipay_gateway_check(app_id: str, user_id: str, create_time_ms: int) -> str:
    """The biz_content of alipay.service.check (the gateway check, event verifygw)."""
    return (
        f"<XML><AppId>{cdata(app_id)}</AppId><FromUserId>{cdata(user_id)}</FromUserId>"
        f"<CreateTime>{cdata(str(create_time_ms))}</CreateTime><MsgType>{cdata('event')}</MsgType>"
        f"<EventType>{cdata('verifygw')}</EventType></XML>"
    )


def _wechat_text(message: UserMessage) -> str:
    assert isinstance(message, Text)
    return f"<MsgType>{cdata('text')}</MsgType><Content>{cdata(message.content)}</Content>"


def _wechat_location(message: UserMessage) -> str:
    assert isinstance(message, Location)
    return (
        f"<MsgType>{cdata('location')}</MsgType><Location_X>{coordinate(message.latitude)}</Location_X>"
        f"<Location_Y>{coordinate(message.longitude)}</Location_Y><Scale>{SCALE}</Scale>"
        f"<Label>{cdata(message.label)}</Label>"
    )


def _wechat_event(message: UserMessage) -> str:
    assert isinstance(message, Event)
    # WeChat spells the menu click in capitals: CLICK.
    fields = f"<MsgType>{cdata('event')}</MsgType><Event>{cdata(_WECHAT_EVENTS[message.type])}</Event>"
    return fields + (f"<EventKey>{cdata(message.key)}</EventKey>" if message.key is not None else "")


def _alipay_text(message: UserMessage) -> str:
    assert isinstance(message, Text)
    return f"<MsgType>{cdata('text')}</MsgType><Text><Content>{cdata(message.content)}</Content></Text>"


def _alipay_location(message: UserMessage) -> str:
    assert isinstance(message, Location)
    return (
        f"<MsgType>{cdata('location')}</MsgType><Latitude>{cdata(coordinate(message.latitude))}</Latitude>"
        f"<Longitude>{cdata(coordinate(message.longitude))}</Longitude><Label>{cdata(message.label)}</Label>"
    )


def _alipay_event(message: UserMessage) -> str:
    assert isinstance(message, Event)
    fields = f"<MsgType>{cdata('event')}</MsgType><EventType>{cdata(_ALIPAY_EVENTS[message.type])}</EventType>"
    return fields + (f"<ActionParam>{cdata(message.key)}</ActionParam>" if message.key is not None else "")


_WECHAT_EVENTS = {SUBSCRIBE: "subscribe", UNSUBSCRIBE: "unsubscribe", CLICK: "CLICK"}
_ALIPAY_EVENTS = {SUBSCRIBE: "follow", UNSUBSCRIBE: "unfollow", CLICK: "click"}
_WECHAT_FIELDS: dict[type, Callable[[UserMessage], str]] = {
    Text: _wechat_text,
    Location: _wechat_location,
    Event: _wechat_event,
}
_ALIPAY_FIELDS: dict[type, Callable[[UserMessage], str]] = {
    Text: _alipay_text,
    Location: _alipay_location,
    Event: _alipay_event,
}
