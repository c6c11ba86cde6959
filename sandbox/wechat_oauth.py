"""WeChat official-account web authorisation (网页授权): the authorize page and the sns/oauth2 APIs.

As on WeChat, `unionid` comes back from /sns/oauth2/access_token only when the code was granted
with scope snsapi_userinfo; /sns/userinfo (snsapi_userinfo only) always carries it.
"""

from __future__ import annotations

import html
from typing import Any
from urllib.parse import urlencode

from flask import Blueprint
from flask import Response
from flask import redirect
from flask import request

from sandbox.grants import EXPIRED
from sandbox.grants import VALID
from sandbox.grants import Grant
from sandbox.residents import Identity
from sandbox.residents import InvalidIdentity
from sandbox.residents import ResidentConflict
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.settings import WeChatApp
from sandbox.wechat_wire import WeChatError
from sandbox.wechat_wire import act_out_fault
from sandbox.wechat_wire import app_by_credentials
from sandbox.wechat_wire import error_response
from sandbox.wechat_wire import redeem_login_code
from sandbox.wechat_wire import wechat_json
from sandbox.world import LoginGrant
from sandbox.world import World

SCOPES = ("snsapi_base", "snsapi_userinfo")


def create_wechat_oauth_blueprint(world: World) -> Blueprint:
    """Routes for /connect/oauth2/authorize and /sns/oauth2/*, /sns/auth, /sns/userinfo."""
    bp = Blueprint("wechat_oauth", __name__)
    bp.register_error_handler(WeChatError, error_response)

    @bp.get("/sns/oauth2/access_token")
    def exchange_code() -> Response:
        if (down := act_out_fault(world, "wechat.oauth2")) is not None:
            return down
        app = _official_account(world)
        if request.args.get("grant_type") != "authorization_code":
            raise WeChatError(40002)
        code = request.args.get("code")
        if not code:
            raise WeChatError(41008)
        login = redeem_login_code(world, app.app_id, code)
        access, refresh, grant = world.wechat_oauth.issue(app.app_id, login.openid, login.scope)
        return wechat_json(_token_answer(world, app, grant, access, refresh))

    @bp.get("/sns/oauth2/refresh_token")
    def refresh() -> Response:
        if (down := act_out_fault(world, "wechat.oauth2")) is not None:
            return down
        appid = request.args.get("appid")
        app = world.config.wechat_app(appid or "")
        if app is None:
            raise WeChatError(40013)
        if request.args.get("grant_type") != "refresh_token":
            raise WeChatError(40002)
        renewed = world.wechat_oauth.refresh(app.app_id, request.args.get("refresh_token", ""))
        if renewed is None:
            raise WeChatError(40030)
        access, refresh_token, grant = renewed
        return wechat_json(_token_answer(world, app, grant, access, refresh_token))

    @bp.get("/sns/auth")
    def check_token() -> Response:
        _user_grant(world)
        return wechat_json({"errcode": 0, "errmsg": "ok"})

    @bp.get("/sns/userinfo")
    def user_info() -> Response:
        grant = _user_grant(world)
        if grant.scope != "snsapi_userinfo":
            raise WeChatError(48001)
        person = world.wechat_people.find(grant.app_id, grant.subject)
        app = world.config.wechat_app(grant.app_id)
        answer: dict[str, Any] = {
            "openid": grant.subject,
            "nickname": person.nickname if person else "微信用户",
            "sex": 0,
            "province": "",
            "city": "",
            "country": "",
            "headimgurl": "",
            "privilege": [],
        }
        if person is not None and app is not None and app.unionid_space is not None:
            answer["unionid"] = person.unionid
        return wechat_json(answer)

    @bp.get("/connect/oauth2/authorize")
    def authorize() -> Response:
        # In WeChat this is a page in the built-in browser; here a form asks who the visitor is.
        app = world.config.wechat_app(request.args.get("appid", ""))
        redirect_uri = request.args.get("redirect_uri", "")
        scope = request.args.get("scope", "")
        if app is None or app.kind != OFFICIAL_ACCOUNT:
            return _page("Invalid appid", "<p>This appid is not an official account of the sandbox.</p>", 400)
        well_formed = request.args.get("response_type") == "code" and scope in SCOPES
        if not well_formed or not redirect_uri.startswith(("http://", "https://")):
            explanation = "<p>response_type=code, a known scope and an http(s) redirect_uri are required.</p>"
            return _page("Invalid request", explanation, 400)
        visitor = request.args.get("sandbox_as")
        if visitor is None:
            return _who_are_you(app)
        try:
            _, openid = world.wechat_people.enrol(app, None if visitor in ("", "new") else visitor, None, Identity())
        except (ResidentConflict, InvalidIdentity) as refused:
            return _page("Cannot sign in", f"<p>{html.escape(str(refused))}</p>", 400)
        code = world.login_codes.issue(app.app_id, LoginGrant(openid, scope))
        separator = "&" if "?" in redirect_uri else "?"
        return redirect(redirect_uri + separator + urlencode({"code": code, "state": request.args.get("state", "")}))

    return bp


def _official_account(world: World) -> WeChatApp:
    app = app_by_credentials(world, request.args.get("appid"), request.args.get("secret"))
    if app.kind != OFFICIAL_ACCOUNT:
        raise WeChatError(40013)
    return app


def _user_grant(world: World) -> Grant:
    status, grant = world.wechat_oauth.check(request.args.get("access_token", ""))
    if status == EXPIRED:
        raise WeChatError(42001)
    if status != VALID or grant is None:
        raise WeChatError(40001)
    if request.args.get("openid") != grant.subject:
        raise WeChatError(40003)
    return grant


def _token_answer(world: World, app: WeChatApp, grant: Grant, access: str, refresh: str) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "access_token": access,
        "expires_in": world.config.token_ttl_seconds,
        "refresh_token": refresh,
        "openid": grant.subject,
        "scope": grant.scope,
    }
    person = world.wechat_people.find(app.app_id, grant.subject)
    if grant.scope == "snsapi_userinfo" and person is not None and app.unionid_space is not None:
        answer["unionid"] = person.unionid
    return answer


def _who_are_you(app: WeChatApp) -> Response:
    hidden = "".join(
        f'<input type="hidden" name="{html.escape(k)}" value="{html.escape(v)}">'
        for k, v in request.args.items()
        if k != "sandbox_as"
    )
    body = (
        f"<p><b>{html.escape(app.name)}</b> asks to sign you in ({html.escape(request.args.get('scope', ''))}).</p>"
        f'<form method="get">{hidden}'
        '<label>Continue as openid <input name="sandbox_as" placeholder="new"></label> '
        '<button type="submit">Allow</button></form>'
        "<p>Leave the field empty to become a new simulated resident.</p>"
    )
    return _page("WeChat authorisation (sandbox)", body, 200)


def _page(title: str, body: str, status: int) -> Response:
    document = (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return Response(document, status=status, content_type="text/html; charset=utf-8")
