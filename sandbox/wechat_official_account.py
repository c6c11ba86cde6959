"""WeChat's official-account APIs: customer-service messages (客服消息) and a follower's profile.

* `POST /cgi-bin/message/custom/send?access_token=` `{touser, msgtype: "text", text: {content}}` ->
  `{errcode: 0, errmsg: "ok"}`. 40003 when touser is no user of the app; 40008 for another msgtype;
  47001 without a text object; 44004 for empty content, 45002 past 2048 bytes; 45015 when the user
  has unfollowed or has not messaged the account within SandboxConfig.chat_window_seconds (48 h).
  The message is listed by GET /_sandbox/messages as kind "customer_service".
* `GET /cgi-bin/user/info?access_token=&openid=&lang=` -> the follower's profile, `{subscribe: 0,
  openid}` for a user who does not follow, 40003 for an unknown openid; 48001 for a mini-program.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.outbox import CUSTOMER_SERVICE
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.wechat_wire import WeChatError
from sandbox.wechat_wire import act_out_fault
from sandbox.wechat_wire import app_by_token
from sandbox.wechat_wire import error_response
from sandbox.wechat_wire import json_body
from sandbox.wechat_wire import wechat_json
from sandbox.world import World

CHANNEL = "wechat"
CONTENT_LIMIT_BYTES = 2048


def create_wechat_official_account_blueprint(world: World) -> Blueprint:
    """Routes for the official account's customer-service messages and user profiles."""
    bp = Blueprint("wechat_official_account", __name__)
    bp.register_error_handler(WeChatError, error_response)

    @bp.post("/cgi-bin/message/custom/send")
    def custom_send() -> Response:
        app = app_by_token(world)
        if (down := act_out_fault(world, "wechat.custom_send")) is not None:
            return down
        body = json_body()
        touser = body.get("touser")
        if not isinstance(touser, str) or world.wechat_people.find(app.app_id, touser) is None:
            raise WeChatError(40003)
        if body.get("msgtype") != "text":
            raise WeChatError(40008)
        content = _content(body.get("text"))
        follow = world.followers.find(CHANNEL, app.app_id, touser)
        now = time.time()
        # Only a follower who wrote (or followed, or clicked) within the window may be answered.
        if follow is None or not follow.following or now - follow.last_message_at > world.config.chat_window_seconds:
            raise WeChatError(45015)
        world.outbox.deliver(
            channel=CHANNEL,
            app_id=app.app_id,
            user=touser,
            template_id=None,
            data={},
            page=None,
            msgid=world.message_ids.new(),
            kind=CUSTOMER_SERVICE,
            text=content,
        )
        return wechat_json({"errcode": 0, "errmsg": "ok"})

    @bp.get("/cgi-bin/user/info")
    def user_info() -> Response:
        app = app_by_token(world)
        if (down := act_out_fault(world, "wechat.user_info")) is not None:
            return down
        if app.kind != OFFICIAL_ACCOUNT:
            raise WeChatError(48001)
        openid = request.args.get("openid", "")
        person = world.wechat_people.find(app.app_id, openid)
        if person is None:
            raise WeChatError(40003)
        follow = world.followers.find(CHANNEL, app.app_id, openid)
        if follow is None or not follow.following:
            return wechat_json({"subscribe": 0, "openid": openid})
        profile: dict[str, Any] = {
            "subscribe": 1,
            "openid": openid,
            "nickname": person.nickname,
            "sex": 0,
            "language": "zh_CN",
            "city": "",
            "province": "",
            "country": "",
            "headimgurl": "",
            "subscribe_time": int(follow.followed_at),
        }
        if app.unionid_space is not None:
            profile["unionid"] = person.unionid
        profile.update(
            remark="",
            groupid=0,
            tagid_list=[],
            subscribe_scene="ADD_SCENE_SEARCH",
            qr_scene=0,
            qr_scene_str="",
        )
        return wechat_json(profile)

    return bp


def _content(text: object) -> str:
    """The text of a text message, within WeChat's limits."""
    if not isinstance(text, dict):
        raise WeChatError(47001)
    content = text.get("content")
    if not isinstance(content, str) or not content:
        raise WeChatError(44004)
    if len(content.encode("utf-8")) > CONTENT_LIMIT_BYTES:
        raise WeChatError(45002)
    return content
