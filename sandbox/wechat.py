"""WeChat's server API (api.weixin.qq.com): access tokens, mini-program login, phone, subscribe messages.

Also the sandbox's real-name check, `POST /cgi-bin/sandbox/realname/check`. WeChat's own identity
verification (face verification in the client) cannot be reached server-side, so this endpoint
is the sandbox's stand-in, in WeChat's style: given an openid, a name and an ID number, it says
whether they match the identity WeChat holds for that person ("match", "mismatch", or
"no_real_name" when the simulated person has none). It mirrors the Alipay certverify pair.
"""

from __future__ import annotations

import base64
import secrets
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.codes import REDEEMED
from sandbox.notice_templates import notice_template
from sandbox.notice_templates import wechat_data_problem
from sandbox.settings import MINI_PROGRAM
from sandbox.wechat_wire import WeChatError
from sandbox.wechat_wire import act_out_fault
from sandbox.wechat_wire import app_by_credentials
from sandbox.wechat_wire import app_by_token
from sandbox.wechat_wire import error_response
from sandbox.wechat_wire import json_body
from sandbox.wechat_wire import redeem_login_code
from sandbox.wechat_wire import wechat_json
from sandbox.world import World


def create_wechat_blueprint(world: World) -> Blueprint:
    """Routes for the cgi-bin, sns (mini-program) and wxa parts of WeChat's API."""
    bp = Blueprint("wechat", __name__)
    bp.register_error_handler(WeChatError, error_response)

    @bp.get("/cgi-bin/token")
    def classic_token() -> Response:
        if (down := act_out_fault(world, "wechat.token")) is not None:
            return down
        if request.args.get("grant_type") != "client_credential":
            raise WeChatError(40002)
        app = app_by_credentials(world, request.args.get("appid"), request.args.get("secret"))
        token, expires_in = world.app_tokens.issue_classic(app.app_id)
        return wechat_json({"access_token": token, "expires_in": expires_in})

    @bp.post("/cgi-bin/stable_token")
    def stable_token() -> Response:
        if (down := act_out_fault(world, "wechat.token")) is not None:
            return down
        body = json_body()
        if body.get("grant_type") != "client_credential":
            raise WeChatError(40002)
        app = app_by_credentials(world, body.get("appid"), body.get("secret"))
        force = body.get("force_refresh", False)
        if not isinstance(force, bool):
            raise WeChatError(47001, "force_refresh must be a boolean")
        token, expires_in = world.app_tokens.issue_stable(app.app_id, force)
        return wechat_json({"access_token": token, "expires_in": expires_in})

    @bp.get("/sns/jscode2session")
    def jscode2session() -> Response:
        # wechatpy also sends an access_token query parameter here; WeChat ignores it, so do we.
        if (down := act_out_fault(world, "wechat.jscode2session")) is not None:
            return down
        app = app_by_credentials(world, request.args.get("appid"), request.args.get("secret"))
        if app.kind != MINI_PROGRAM:
            raise WeChatError(40013)
        if request.args.get("grant_type") != "authorization_code":
            raise WeChatError(40002)
        code = request.args.get("js_code")
        if not code:
            raise WeChatError(41008)
        pending = world.login_codes.peek(app.app_id, code)
        if pending is not None and not world.login_quota.spend(f"{app.app_id}:{pending.openid}"):
            raise WeChatError(45011)
        grant = redeem_login_code(world, app.app_id, code)
        person = world.wechat_people.find(app.app_id, grant.openid)
        answer: dict[str, Any] = {
            # A new session key per login, as wx.login rotates it.
            "session_key": base64.b64encode(secrets.token_bytes(16)).decode(),
            "openid": grant.openid,
        }
        if person is not None and app.unionid_space is not None:
            answer["unionid"] = person.unionid
        return wechat_json(answer)

    @bp.post("/wxa/business/getuserphonenumber")
    def phone_number() -> Response:
        app = app_by_token(world)
        if (down := act_out_fault(world, "wechat.phone")) is not None:
            return down
        body = json_body()
        code, claimed = body.get("code"), body.get("openid")
        if not isinstance(code, str) or not code:
            raise WeChatError(47001)
        status, openid = world.phone_codes.redeem(app.app_id, code)
        person = world.wechat_people.find(app.app_id, openid) if status == REDEEMED else None
        # With an openid, the code must have been issued to that user.
        if claimed is not None and claimed != openid:
            raise WeChatError(40029)
        if person is None or not person.identity.phone:
            raise WeChatError(40029)
        phone = person.identity.phone
        return wechat_json(
            {
                "errcode": 0,
                "errmsg": "ok",
                "phone_info": {
                    "phoneNumber": phone,
                    "purePhoneNumber": phone,
                    "countryCode": "86",
                    "watermark": {"timestamp": int(time.time()), "appid": app.app_id},
                },
            }
        )

    @bp.post("/cgi-bin/message/subscribe/send")
    def subscribe_send() -> Response:
        app = app_by_token(world)
        if (down := act_out_fault(world, "wechat.subscribe_send")) is not None:
            return down
        body = json_body()
        touser, template_id, page = body.get("touser"), body.get("template_id"), body.get("page")
        if not isinstance(touser, str) or world.wechat_people.find(app.app_id, touser) is None:
            raise WeChatError(40003)
        template = notice_template("wechat", app.app_id, template_id) if isinstance(template_id, str) else None
        if template is None:
            raise WeChatError(40037)
        problem = wechat_data_problem(template, body.get("data"))
        if problem is not None:
            raise WeChatError(47003, f"hint: [{secrets.token_urlsafe(9)}] {problem}")
        if page is not None and not isinstance(page, str):
            raise WeChatError(47001)
        # A one-time subscription the user accepted pays for exactly one message.
        if not world.subscriptions.spend("wechat", app.app_id, touser, template.template_id):
            raise WeChatError(43101)
        msgid = str(secrets.randbits(62))
        world.outbox.deliver(
            channel="wechat",
            app_id=app.app_id,
            user=touser,
            template_id=template_id,
            data=body["data"],
            page=page,
            msgid=msgid,
            extra={k: body[k] for k in ("miniprogram_state", "lang") if k in body},
        )
        return wechat_json({"errcode": 0, "errmsg": "ok", "msgid": int(msgid)})

    @bp.post("/cgi-bin/sandbox/realname/check")
    def real_name_check() -> Response:
        app = app_by_token(world)
        if (down := act_out_fault(world, "wechat.realname")) is not None:
            return down
        body = json_body()
        openid, real_name, id_number = body.get("openid"), body.get("real_name"), body.get("id_number")
        if not all(isinstance(v, str) and v for v in (openid, real_name, id_number)):
            raise WeChatError(47001, "openid, real_name and id_number are required")
        person = world.wechat_people.find(app.app_id, openid)
        if person is None:
            raise WeChatError(40003)
        held = person.identity
        if not held.real_name or not held.id_number:
            result = "no_real_name"
        elif real_name.strip() == held.real_name and id_number.strip().upper() == held.id_number:
            result = "match"
        else:
            result = "mismatch"
        return wechat_json({"errcode": 0, "errmsg": "ok", "verify_result": result})

    return bp
