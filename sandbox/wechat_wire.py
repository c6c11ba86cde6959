"""WeChat's wire conventions: JSON bodies, errcode/errmsg errors, app credentials and tokens."""

from __future__ import annotations

import hmac
import json
import secrets
import time
from typing import Any

from flask import Response
from flask import request

from sandbox.codes import REDEEMED
from sandbox.codes import USED
from sandbox.outage import answer_down
from sandbox.settings import WeChatApp
from sandbox.tokens import EXPIRED
from sandbox.tokens import INVALID
from sandbox.world import LoginGrant
from sandbox.world import World

# errcode -> errmsg, worded as WeChat words them.
ERRMSG = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40002: "invalid grant_type",
    40003: "invalid openid",
    40008: "invalid message type",
    40013: "invalid appid",
    40029: "invalid code",
    40030: "invalid refresh_token",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    40163: "code been used",
    41001: "access_token missing",
    41002: "appid missing",
    41004: "appsecret missing",
    41008: "missing code",
    42001: "access_token expired",
    43101: "user refuse to accept the msg",
    44004: "empty content",
    45002: "content size out of limit",
    45011: "api minute-quota reach limit  mustslower  retry next minute",
    45015: "response out of time limit or subscription is canceled",
    47001: "data format error",
    47003: "argument invalid!",
    48001: "api unauthorized",
}


class WeChatError(Exception):
    """An error WeChat reports in the body, with HTTP 200, as {errcode, errmsg}."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        super().__init__(errcode)
        self.errcode = errcode
        self.errmsg = ERRMSG.get(errcode, "system error") + (f" {detail}" if detail else "")


def wechat_json(payload: dict[str, Any]) -> Response:
    """A JSON answer as WeChat sends it (UTF-8, not ASCII-escaped)."""
    return Response(json.dumps(payload, ensure_ascii=False), content_type="application/json; encoding=utf-8")


def error_response(error: WeChatError) -> Response:
    """The body of a WeChat error; errmsg ends with a request id, as WeChat's do."""
    return wechat_json({"errcode": error.errcode, "errmsg": f"{error.errmsg}, rid: {_rid()}"})


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; wechatpy posts JSON without a Content-Type header."""
    try:
        body = json.loads(request.get_data() or b"{}")
    except ValueError:
        raise WeChatError(47001) from None
    if not isinstance(body, dict):
        raise WeChatError(47001)
    return body


def app_by_credentials(world: World, appid: str | None, secret: str | None) -> WeChatApp:
    """The app an appid/secret pair proves, or the WeChat error for a bad pair."""
    if not appid:
        raise WeChatError(41002)
    app = world.config.wechat_app(appid)
    if app is None:
        raise WeChatError(40013)
    if not secret:
        raise WeChatError(41004)
    if not hmac.compare_digest(secret.encode(), world.keys.wechat_secrets[app.app_id].encode()):
        raise WeChatError(40125)
    return app


def app_by_token(world: World) -> WeChatApp:
    """The app whose access_token (query parameter) this request carries."""
    token = request.args.get("access_token")
    if not token:
        raise WeChatError(41001)
    status, app_id = world.app_tokens.check(token)
    if status == EXPIRED:
        raise WeChatError(42001)
    if status == INVALID or app_id is None:
        raise WeChatError(40001)
    app = world.config.wechat_app(app_id)
    if app is None:
        raise WeChatError(40001)
    return app


def act_out_fault(world: World, target: str) -> Response | None:
    """Apply an armed fault to this call: a response to send instead, or None to carry on."""
    effect = world.faults.take(target)
    if effect is None:
        return None
    if effect.mode == "slow":
        time.sleep(effect.delay_seconds)
        return None
    if effect.mode == "down":
        return answer_down(effect)
    if effect.mode == "rate_limit":
        raise WeChatError(45011)
    raise WeChatError(effect.errcode if effect.errcode is not None else -1)


def redeem_login_code(world: World, app_id: str, code: str) -> LoginGrant:
    """Use up a login code of app_id: 40163 on a second use, 40029 if unknown, expired or foreign."""
    status, grant = world.login_codes.redeem(app_id, code)
    if status == USED:
        raise WeChatError(40163)
    if status != REDEEMED:
        raise WeChatError(40029)
    return grant


def _rid() -> str:
    return f"{secrets.token_hex(4)}-{secrets.token_hex(4)}-{secrets.token_hex(4)}"
