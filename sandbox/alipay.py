"""Alipay's open-platform gateway (openapi.alipay.com/gateway.do): login, profile, real-name, notices.

Methods:
* alipay.system.oauth.token (grant_type=authorization_code with code, or refresh_token) ->
  user_id, open_id, access_token, expires_in, refresh_token, re_expires_in, auth_start. Like Alipay,
  a success carries no `code`; a bad or used code is a signed `error_response` 40002
  isv.code-invalid.
* alipay.user.info.share (auth_token) -> code 10000, user_id, open_id, nick_name, avatar; a bad
  token is code 20001 aop.invalid-auth-token (aop.auth-token-time-out once expired).
* Real-name check, modelled on Alipay's 实名证件信息比对验证:
  alipay.user.certdoc.certverify.preconsult, biz_content {user_name, cert_type: IDENTITY_CARD,
  cert_no, mobile?} -> {code 10000, verify_id}; then alipay.user.certdoc.certverify.consult,
  biz_content {verify_id} with the user's auth_token -> {code 10000, passed: "T"|"F",
  fail_reason?, fail_params?}. passed is "T" only when name and ID number (and mobile, if given
  and known) equal the identity Alipay holds for the token's user. fail_params is a JSON array
  text naming the fields that differ. A verify_id can be consulted until it expires.
* The trade methods (alipay.trade.create, .query, .close, .refund, .fastpay.refund.query) live in
  sandbox/alipay_trade.py, the trade bill (alipay.data.dataservice.bill.downloadurl.query) in
  sandbox/alipay_bill.py.
* alipay.open.app.mini.templatemessage.send, biz_content {to_user_id | to_open_id,
  user_template_id, page?, data (object or JSON text of {keyword: {value}}), form_id?} ->
  code 10000 and msg_id, spending one subscription the user accepted (POST /_sandbox/alipay/subscribe);
  without one, code 40004 USER_NOT_SUBSCRIBED. The notice is listed by GET /_sandbox/messages?channel=alipay.
* alipay.open.public.message.custom.send (life accounts): see sandbox/alipay_life_account.py.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response

from sandbox.alipay_bill import NOT_MADE_YET
from sandbox.alipay_bill import query_bill_url
from sandbox.alipay_life_account import send_custom_message
from sandbox.alipay_trade import ACQ_SYSTEM_ERROR
from sandbox.alipay_trade import close_trade
from sandbox.alipay_trade import create_trade
from sandbox.alipay_trade import query_refund
from sandbox.alipay_trade import query_trade
from sandbox.alipay_trade import refund_trade
from sandbox.alipay_wire import ERROR_NODE
from sandbox.alipay_wire import AlipayError
from sandbox.alipay_wire import authenticate
from sandbox.alipay_wire import biz_content
from sandbox.alipay_wire import envelope
from sandbox.alipay_wire import error_envelope
from sandbox.alipay_wire import request_params
from sandbox.alipay_wire import response_node
from sandbox.codes import REDEEMED
from sandbox.grants import EXPIRED
from sandbox.grants import VALID
from sandbox.grants import Grant
from sandbox.notice_templates import alipay_data_problem
from sandbox.notice_templates import notice_template
from sandbox.outage import answer_down
from sandbox.outbox import BEIJING
from sandbox.residents import AlipayUser
from sandbox.settings import AlipayApp
from sandbox.world import CertQuery
from sandbox.world import World

Handler = Callable[[World, AlipayApp, dict[str, str], dict[str, Any]], dict[str, Any]]


def create_alipay_blueprint(world: World) -> Blueprint:
    """The /gateway.do route, dispatching on the `method` parameter."""
    bp = Blueprint("alipay", __name__)

    @bp.route("/gateway.do", methods=["GET", "POST"])
    def gateway() -> Response:
        params = request_params()
        method = params.get("method")
        try:
            app = authenticate(world, params)
            if method not in METHODS:
                raise AlipayError("40002", "isv.invalid-method", "不存在的方法名", ERROR_NODE)
            handler, target = METHODS[method]
            effect = world.faults.take(target)
            if effect is not None and effect.mode == "slow":
                time.sleep(effect.delay_seconds)
            elif effect is not None and effect.mode == "down":
                return answer_down(effect)
            elif effect is not None:
                raise AlipayError(*SYSTEM_ERRORS.get(target, UNKNOWN_ERROR))
            inner = handler(world, app, params, biz_content(params))
        except AlipayError as error:
            return error_envelope(world, method, error)
        return envelope(world, response_node(method), inner)

    return bp


def exchange_auth_code(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.system.oauth.token: an auth code (or refresh token) for the user's tokens."""
    grant_type = params.get("grant_type")
    if grant_type == "authorization_code":
        status, user_id = world.auth_codes.redeem(app.app_id, params.get("code", ""))
        if status != REDEEMED:
            raise AlipayError("40002", "isv.code-invalid", "授权码code无效", ERROR_NODE)
        access, refresh, grant = world.alipay_oauth.issue(app.app_id, user_id, "auth_user")
    elif grant_type == "refresh_token":
        renewed = world.alipay_oauth.refresh(app.app_id, params.get("refresh_token", ""))
        if renewed is None:
            raise AlipayError("40002", "isv.refresh-token-invalid", "刷新令牌refresh_token无效", ERROR_NODE)
        access, refresh, grant = renewed
    else:
        raise AlipayError("40002", "isv.grant-type-invalid", "grant_type参数不正确", ERROR_NODE)
    user, open_id = _user_in_app(world, app, grant.subject)
    return {
        "user_id": user.user_id,
        "open_id": open_id,
        "access_token": access,
        "expires_in": world.config.token_ttl_seconds,
        "refresh_token": refresh,
        "re_expires_in": world.config.refresh_ttl_seconds,
        "auth_start": datetime.fromtimestamp(grant.started_at, BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
    }


def share_user_info(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.user.info.share: the profile behind an auth_token."""
    grant = _auth_token_grant(world, app, params)
    user, open_id = _user_in_app(world, app, grant.subject)
    return {
        "code": "10000",
        "msg": "Success",
        "user_id": user.user_id,
        "open_id": open_id,
        "nick_name": user.nick_name,
        "avatar": "",
    }


def preconsult_certdoc(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.user.certdoc.certverify.preconsult: register the identity to compare; a verify_id."""
    user_name, cert_no, cert_type, mobile = (biz.get(k) for k in ("user_name", "cert_no", "cert_type", "mobile"))
    if not isinstance(user_name, str) or not user_name.strip() or not isinstance(cert_no, str) or not cert_no.strip():
        raise AlipayError("40004", "PARAM_ILLEGAL", "参数有误：user_name和cert_no必填")
    if cert_type != "IDENTITY_CARD":
        raise AlipayError("40004", "CERT_TYPE_NOT_SUPPORT", "证件类型不支持，仅支持IDENTITY_CARD")
    if mobile is not None and not isinstance(mobile, str):
        raise AlipayError("40004", "PARAM_ILLEGAL", "参数有误：mobile")
    query = CertQuery(user_name.strip(), cert_no.strip().upper(), mobile or None)
    return {"code": "10000", "msg": "Success", "verify_id": world.verify_ids.issue(app.app_id, query)}


def consult_certdoc(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.user.certdoc.certverify.consult: does the token's user hold the pre-registered identity?"""
    grant = _auth_token_grant(world, app, params)
    query = world.verify_ids.peek(app.app_id, str(biz.get("verify_id", "")))
    if query is None:
        raise AlipayError("40004", "VERIFY_ID_INVALID", "verify_id无效或已过期")
    user, _ = _user_in_app(world, app, grant.subject)
    held = user.identity
    if not held.real_name or not held.id_number:
        return {"code": "10000", "msg": "Success", "passed": "F", "fail_reason": "用户未实名认证", "fail_params": "[]"}
    differing = [
        name
        for name, asked, known in (
            ("user_name", query.user_name, held.real_name),
            ("cert_no", query.cert_no, held.id_number),
            ("mobile", query.mobile, held.phone),
        )
        if asked is not None and known is not None and asked != known
    ]
    if not differing:
        return {"code": "10000", "msg": "Success", "passed": "T"}
    return {
        "code": "10000",
        "msg": "Success",
        "passed": "F",
        "fail_reason": "证件信息比对不一致",
        "fail_params": json.dumps(differing),
    }


def send_template_message(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.open.app.mini.templatemessage.send: a notice to a user of this mini-program."""
    user: AlipayUser | None = None
    if isinstance(biz.get("to_open_id"), str):
        user = world.alipay_people.find_by_open_id(app.app_id, biz["to_open_id"])
    elif isinstance(biz.get("to_user_id"), str):
        user = world.alipay_people.find(biz["to_user_id"])
    if user is None or app.app_id not in user.open_ids:
        raise AlipayError("40004", "USER_NOT_EXIST", "用户不存在或未授权该应用")
    template_id = biz.get("user_template_id")
    template = notice_template("alipay", app.app_id, template_id) if isinstance(template_id, str) else None
    if template is None:
        raise AlipayError("40004", "TEMPLATE_NOT_EXIST", "模板不存在")
    data = biz.get("data")
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except ValueError:
            data = None
    problem = alipay_data_problem(template, data)
    if problem is not None:
        raise AlipayError("40004", "INVALID_DATA", problem)
    # Each subscription the user accepted in the mini-program pays for one message.
    if not world.subscriptions.spend("alipay", app.app_id, user.user_id, template.template_id):
        raise AlipayError("40004", "USER_NOT_SUBSCRIBED", "用户未订阅该消息模板或订阅次数已用完")
    notice = world.outbox.deliver(
        channel="alipay",
        app_id=app.app_id,
        user=user.user_id,
        open_id=user.open_ids[app.app_id],
        template_id=template_id,
        data=data,
        page=biz.get("page"),
        msgid=f"{int(time.time() * 1000)}",
    )
    return {"code": "10000", "msg": "Success", "msg_id": notice.msgid}


# method -> (handler, fault target); the target names are listed in sandbox.faults.TARGETS.
METHODS: dict[str, tuple[Handler, str]] = {
    "alipay.system.oauth.token": (exchange_auth_code, "alipay.oauth"),
    "alipay.user.info.share": (share_user_info, "alipay.user_info"),
    "alipay.user.certdoc.certverify.preconsult": (preconsult_certdoc, "alipay.certverify"),
    "alipay.user.certdoc.certverify.consult": (consult_certdoc, "alipay.certverify"),
    "alipay.open.app.mini.templatemessage.send": (send_template_message, "alipay.message"),
    "alipay.open.public.message.custom.send": (send_custom_message, "alipay.public_message"),
    "alipay.trade.create": (create_trade, "alipay.trade_create"),
    "alipay.trade.query": (query_trade, "alipay.trade_query"),
    "alipay.trade.close": (close_trade, "alipay.trade_close"),
    "alipay.trade.refund": (refund_trade, "alipay.trade_refund"),
    "alipay.trade.fastpay.refund.query": (query_refund, "alipay.trade_refund"),
    "alipay.data.dataservice.bill.downloadurl.query": (query_bill_url, "alipay.bill"),
}
# What an "error" fault answers: the trade methods' own system error, the bill's "not made yet", else the gateway's.
UNKNOWN_ERROR = ("20000", "isp.unknow-error", "服务暂不可用（业务系统不可用）")
SYSTEM_ERRORS = {
    "alipay.trade_create": ACQ_SYSTEM_ERROR,
    "alipay.trade_query": ACQ_SYSTEM_ERROR,
    "alipay.trade_close": ACQ_SYSTEM_ERROR,
    "alipay.trade_refund": ACQ_SYSTEM_ERROR,
    "alipay.bill": NOT_MADE_YET,
}


def _auth_token_grant(world: World, app: AlipayApp, params: dict[str, str]) -> Grant:
    status, grant = world.alipay_oauth.check(params.get("auth_token", ""))
    if status == EXPIRED:
        raise AlipayError("20001", "aop.auth-token-time-out", "访问令牌已过期")
    if status != VALID or grant is None or grant.app_id != app.app_id:
        raise AlipayError("20001", "aop.invalid-auth-token", "无效的访问令牌")
    return grant


def _user_in_app(world: World, app: AlipayApp, user_id: str) -> tuple[AlipayUser, str]:
    user = world.alipay_people.find(user_id)
    if user is None or app.app_id not in user.open_ids:
        raise AlipayError("20000", "isp.unknow-error", "服务暂不可用（业务系统不可用）")
    return user, user.open_ids[app.app_id]
