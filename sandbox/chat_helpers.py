"""Helpers that play a user chatting with an account, and the platforms checking citytiles' chat endpoints.

* `POST /_sandbox/chat {channel, app_id, user?, person?, text? | event? | location?, encrypted?}` ->
  `{user, msg_id, pushed, tries, outcome, reply, reason}`: the user sends the WeChat official account
  or the Alipay life account one message, which the platform pushes to citytiles (three tries) and
  whose answer it reads (sandbox/official_account_push.py, sandbox/life_account_push.py).
* `POST /_sandbox/wechat/verify-server {app_id}`, `POST /_sandbox/alipay/verify-gateway {app_id}` ->
  `{app_id, passed, reason, pushed, tries}`: the check each platform makes when the URL is configured.

The user is `user` (the openid in the account, or the Alipay user_id), or `person` naming the same
person by their mini-program identity (`{app_id, openid}` / `{app_id, open_id}`), who then gets an id
in the account if they had none; with neither, a new person. Unknown ids are a 400.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify

from sandbox.chat_messages import CLICK
from sandbox.chat_messages import EVENT_TYPES
from sandbox.chat_messages import Event
from sandbox.chat_messages import Location
from sandbox.chat_messages import Text
from sandbox.chat_messages import UserMessage
from sandbox.chat_push import ChatResult
from sandbox.helper_blueprints import helper_blueprint
from sandbox.helper_input import HelperError
from sandbox.helper_input import flag
from sandbox.helper_input import json_object
from sandbox.helper_input import nested_object
from sandbox.helper_input import number
from sandbox.helper_input import required_choice
from sandbox.helper_input import required_text
from sandbox.helper_input import text
from sandbox.helper_input import within
from sandbox.life_account_push import push_to_life_account
from sandbox.life_account_push import verify_gateway
from sandbox.official_account_push import push_to_official_account
from sandbox.official_account_push import verify_server
from sandbox.residents import ALIPAY_USER_ID
from sandbox.residents import WECHAT_ID
from sandbox.residents import Identity
from sandbox.settings import LIFE_ACCOUNT
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.settings import AlipayApp
from sandbox.settings import WeChatApp
from sandbox.world import World

CHAT_FIELDS = ("channel", "app_id", "user", "person", "text", "event", "location", "encrypted")
MESSAGE_FIELDS = ("text", "event", "location")
TEXT_LIMIT = 600
LABEL_LIMIT = 100
OPEN_ID_LIMIT = 128
MENU_KEY = re.compile(r"[A-Za-z0-9_.-]{1,128}")  # WeChat allows menu keys of up to 128 bytes


def create_chat_helpers_blueprint(world: World) -> Blueprint:
    """The chat helpers under /_sandbox/."""
    bp = helper_blueprint("chat_helpers", __name__)

    @bp.post("/chat")
    def chat() -> Response:
        body = json_object(CHAT_FIELDS)
        channel = required_choice(body, "channel", tuple(CHATS))
        message = _message(body)
        if body.get("user") is not None and body.get("person") is not None:
            raise HelperError("give user or person, not both", {"person": "not with user"})
        return jsonify(CHATS[channel](world, body, message).describe())

    @bp.post("/wechat/verify-server")
    def wechat_verify_server() -> Response:
        return jsonify(verify_server(world, _official_account(world, json_object(("app_id",)))))

    @bp.post("/alipay/verify-gateway")
    def alipay_verify_gateway() -> Response:
        return jsonify(verify_gateway(world, _life_account(world, json_object(("app_id",)))))

    return bp


def _wechat_chat(world: World, body: dict[str, Any], message: UserMessage) -> ChatResult:
    app = _official_account(world, body)
    encrypted = flag(body, "encrypted")
    return push_to_official_account(world, app, _wechat_user(world, app, body), message, encrypted)


def _alipay_chat(world: World, body: dict[str, Any], message: UserMessage) -> ChatResult:
    app = _life_account(world, body)
    if flag(body, "encrypted"):
        raise HelperError("only WeChat encrypts pushed messages", {"encrypted": "true for channel wechat only"})
    return push_to_life_account(world, app, _alipay_user(world, app, body), message)


CHATS: dict[str, Callable[[World, dict[str, Any], UserMessage], ChatResult]] = {
    "wechat": _wechat_chat,
    "alipay": _alipay_chat,
}


def _official_account(world: World, body: dict[str, Any]) -> WeChatApp:
    app = world.config.wechat_app(required_text(body, "app_id"))
    if app is None or app.kind != OFFICIAL_ACCOUNT or not app.original_id:
        raise HelperError("unknown official account", {"app_id": "not an official account of this sandbox"})
    return app


def _life_account(world: World, body: dict[str, Any]) -> AlipayApp:
    app = world.config.alipay_app(required_text(body, "app_id"))
    if app is None or app.kind != LIFE_ACCOUNT:
        raise HelperError("unknown life account", {"app_id": "not an Alipay life account of this sandbox"})
    return app


def _wechat_user(world: World, app: WeChatApp, body: dict[str, Any]) -> str:
    """The user's openid in the account: given, found through their mini-program openid, or a new person's."""
    openid = text(body, "user", pattern=WECHAT_ID)
    if openid is not None:
        if world.wechat_people.find(app.app_id, openid) is None:
            raise HelperError("unknown user", {"user": "no such openid in this account"})
        return openid
    if body.get("person") is None:
        return world.wechat_people.enrol(app, None, None, Identity())[1]
    with within("person"):
        person = nested_object(body["person"], "person", ("app_id", "openid"))
        elsewhere = world.config.wechat_app(required_text(person, "app_id"))
        if elsewhere is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        their_openid = required_text(person, "openid", pattern=WECHAT_ID)
        found = world.wechat_people.find(elsewhere.app_id, their_openid)
        if found is None:
            raise HelperError("unknown person", {"openid": "no such openid in that app"})
        if elsewhere.app_id == app.app_id:
            return their_openid
        # Only a unionid space ties one person's openids in two apps together.
        if app.unionid_space is None or found.space != app.unionid_space:
            raise HelperError("another unionid space", {"app_id": "not bound to the account's Open Platform account"})
    return world.wechat_people.enrol(app, None, found.unionid, Identity())[1]


def _alipay_user(world: World, app: AlipayApp, body: dict[str, Any]) -> str:
    """The user's user_id: given, found through their mini-program open_id, or a new user's."""
    user_id = text(body, "user", pattern=ALIPAY_USER_ID)
    if user_id is not None and world.alipay_people.find(user_id) is None:
        raise HelperError("unknown user", {"user": "no such Alipay user"})
    if user_id is None and body.get("person") is not None:
        with within("person"):
            person = nested_object(body["person"], "person", ("app_id", "open_id"))
            elsewhere = world.config.alipay_app(required_text(person, "app_id"))
            if elsewhere is None:
                raise HelperError("unknown Alipay app", {"app_id": "not an Alipay app of this sandbox"})
            open_id = required_text(person, "open_id", limit=OPEN_ID_LIMIT)
            found = world.alipay_people.find_by_open_id(elsewhere.app_id, open_id)
            if found is None:
                raise HelperError("unknown person", {"open_id": "no such open_id in that app"})
            user_id = found.user_id
    # Everyone who writes to the life account has an open_id in it too.
    return world.alipay_people.enrol(app.app_id, user_id, None, Identity())[0].user_id


def _message(body: dict[str, Any]) -> UserMessage:
    given = [key for key in MESSAGE_FIELDS if body.get(key) is not None]
    if len(given) != 1:
        reason = "exactly one of text, event, location"
        raise HelperError("give exactly one of text, event, location", dict.fromkeys(given or MESSAGE_FIELDS, reason))
    return MESSAGES[given[0]](body)


def _text(body: dict[str, Any]) -> UserMessage:
    return Text(required_text(body, "text", limit=TEXT_LIMIT))


def _event(body: dict[str, Any]) -> UserMessage:
    with within("event"):
        event = nested_object(body["event"], "event", ("type", "key"))
        kind, key = required_choice(event, "type", EVENT_TYPES), text(event, "key", pattern=MENU_KEY)
        if kind == CLICK and key is None:
            raise HelperError("a click names its menu key", {"key": "required for a click"})
        if kind != CLICK and key is not None:
            raise HelperError("only a click has a key", {"key": "for a click only"})
    return Event(kind, key)


def _location(body: dict[str, Any]) -> UserMessage:
    with within("location"):
        where = nested_object(body["location"], "location", ("latitude", "longitude", "label"))
        latitude, longitude = _coordinate(where, "latitude", 90.0), _coordinate(where, "longitude", 180.0)
        label = text(where, "label", limit=LABEL_LIMIT) or ""
    return Location(latitude, longitude, label)


def _coordinate(fields: dict[str, Any], key: str, bound: float) -> float:
    if fields.get(key) is None:
        raise HelperError(f"{key} is required", {key: f"a number in [{-bound}, {bound}]"})
    return number(fields, key, default=0.0, low=-bound, high=bound)


MESSAGES: dict[str, Callable[[dict[str, Any]], UserMessage]] = {
    "text": _text,
    "event": _event,
    "location": _location,
}
