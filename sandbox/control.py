"""Test helpers under /_sandbox/: play the user's side of the super-apps, read what was sent, break things.

Every helper speaks JSON and reads its input through sandbox.helper_input. Bad input is answered 400
with `{"error": {"code": "sandbox.invalid_request", "message": ..., "details": {field: reason}}}`;
unknown paths and methods under /_sandbox/ get the same shape with 404 and 405.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask import send_from_directory
from werkzeug.exceptions import HTTPException
from werkzeug.exceptions import MethodNotAllowed

from sandbox.faults import MODES
from sandbox.faults import TARGETS
from sandbox.faults import Fault
from sandbox.helper_input import HelperError
from sandbox.helper_input import choice
from sandbox.helper_input import error_body
from sandbox.helper_input import flag
from sandbox.helper_input import json_object
from sandbox.helper_input import number
from sandbox.helper_input import required_choice
from sandbox.helper_input import required_text
from sandbox.helper_input import text
from sandbox.helper_input import whole_number
from sandbox.residents import ALIPAY_USER_ID
from sandbox.residents import WECHAT_ID
from sandbox.residents import Identity
from sandbox.residents import InvalidIdentity
from sandbox.residents import ResidentConflict
from sandbox.settings import MINI_PROGRAM
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.world import LoginGrant
from sandbox.world import World

STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/_sandbox/"
# The page loads its script and style from the sandbox itself, so nothing inline is needed.
PAGE_POLICY = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
_IDENTITY_FIELDS = ("real_name", "id_number", "phone")
_SCOPES = ("snsapi_base", "snsapi_userinfo")
_FAULT_FIELDS = ("target", "mode", "delay_seconds", "errcode", "times", "persistent", "close_connection")
_MAX_DELAY_SECONDS = 300.0
_MAX_TIMES = 1_000_000
_ERRCODE_RANGE = (-(2**31), 2**31 - 1)


def create_control_blueprint(world: World) -> Blueprint:
    """Routes under /_sandbox/ (the citytiles proxy lives in sandbox.proxy)."""
    bp = Blueprint("control", __name__, url_prefix="/_sandbox")

    @bp.errorhandler(HelperError)
    def bad_input(error: HelperError) -> tuple[Response, int]:
        return jsonify(error_body(error.code, error.message, error.details)), 400

    @bp.app_errorhandler(HTTPException)
    def http_error(error: HTTPException) -> HTTPException | Response:
        # Routing errors never reach a blueprint's own handlers, so this one is app-wide; the
        # emulated WeChat and Alipay paths keep the platforms' own (HTML) answers.
        if not request.path.startswith(PREFIX) or error.code is None or error.code < 400:
            return error
        answer = jsonify(error_body(f"sandbox.{_snake(error.name)}", error.description or error.name))
        answer.status_code = error.code
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            answer.headers["Allow"] = ", ".join(error.valid_methods)
        return answer

    @bp.after_request
    def hygiene(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Cache-Control"] = "no-store"  # credentials, codes and identities
        return response

    @bp.get("/")
    def page() -> Response:
        response = send_from_directory(STATIC_DIR, "index.html")
        response.headers["Content-Security-Policy"] = PAGE_POLICY
        return response

    @bp.get("/static/<path:name>")
    def asset(name: str) -> Response:
        return send_from_directory(STATIC_DIR, name)

    @bp.get("/config")
    def describe() -> Response:
        return jsonify(
            {
                "wechat_apps": [
                    {
                        "app_id": a.app_id,
                        "kind": a.kind,
                        "name": a.name,
                        "unionid_space": a.unionid_space,
                        "original_id": a.original_id,
                    }
                    for a in world.config.wechat_apps
                ],
                "alipay_apps": [
                    {"app_id": a.app_id, "name": a.name, "seller_id": a.seller_id, "kind": a.kind}
                    for a in world.config.alipay_apps
                ],
                "wechat_pay_merchants": [
                    {"mch_id": m.mch_id, "name": m.name, "app_ids": list(m.app_ids)}
                    for m in world.config.wechat_pay_merchants
                ],
                "citytiles_url": world.config.citytiles_url,
            }
        )

    @bp.get("/credentials")
    def credentials() -> Response:
        keys, paths = world.keys, world.keys.paths
        return jsonify(
            {
                "state_dir": str(paths.state_dir),
                "wechat": [
                    {
                        "app_id": app_id,
                        "secret": secret,
                        "secret_file": str(paths.wechat_secret(app_id)),
                        **_server_credentials(world, app_id),
                    }
                    for app_id, secret in keys.wechat_secrets.items()
                ],
                "alipay": {
                    "app_ids": [a.app_id for a in world.config.alipay_apps],
                    "alipay_public_key_pem": keys.alipay_public_key_pem,
                    "alipay_public_key_file": str(paths.alipay_public_key),
                    "app_private_key_pem": keys.alipay_app_private_key_pem,
                    "app_private_key_file": str(paths.alipay_app_private_key),
                    "seller_ids": {a.app_id: a.seller_id for a in world.config.alipay_apps},
                    "kinds": {a.app_id: a.kind for a in world.config.alipay_apps},
                },
                "wechat_pay": [
                    {
                        "mch_id": pay.mch_id,
                        "app_ids": list(merchant.app_ids),
                        "merchant_private_key_pem": pay.merchant_private_key_pem,
                        "merchant_private_key_file": str(pay.paths.merchant_private_key),
                        "merchant_serial_no": pay.merchant_serial_no,
                        "merchant_serial_no_file": str(pay.paths.merchant_serial_no),
                        "apiv3_key": pay.apiv3_key,
                        "apiv3_key_file": str(pay.paths.apiv3_key),
                        "public_key_pem": pay.wechatpay_public_key_pem,
                        "public_key_file": str(pay.paths.wechatpay_public_key),
                        "public_key_id": pay.public_key_id,
                        "public_key_id_file": str(pay.paths.public_key_id),
                    }
                    for merchant in world.config.wechat_pay_merchants
                    for pay in [world.wechat_pay_keys[merchant.mch_id]]
                ],
            }
        )

    @bp.post("/wechat/login-code")
    def wechat_login_code() -> Response:
        body = json_object(("app_id", "openid", "unionid", "scope", *_IDENTITY_FIELDS))
        app = world.config.wechat_app(required_text(body, "app_id"))
        if app is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        scope = choice(body, "scope", _SCOPES)
        if scope is not None and app.kind != OFFICIAL_ACCOUNT:
            raise HelperError("scope applies to official accounts only", {"scope": "not for a mini-program"})
        openid, unionid = text(body, "openid", pattern=WECHAT_ID), text(body, "unionid", pattern=WECHAT_ID)
        try:
            person, openid = world.wechat_people.enrol(app, openid, unionid, _identity(body))
        except ResidentConflict as conflict:
            raise HelperError(str(conflict), {"openid": "conflicts with unionid"}) from None
        grant = LoginGrant(openid, "" if app.kind == MINI_PROGRAM else scope or "snsapi_base")
        code = world.login_codes.issue(app.app_id, grant)
        answer: dict[str, Any] = {"app_id": app.app_id, "code": code, "openid": openid}
        if app.unionid_space is not None:
            answer["unionid"] = person.unionid
        if person.identity.phone and app.kind == MINI_PROGRAM:
            answer["phone_code"] = world.phone_codes.issue(app.app_id, openid)
        return jsonify(answer)

    @bp.post("/wechat/phone-code")
    def wechat_phone_code() -> Response:
        body = json_object(("app_id", "openid", "phone"))
        app_id = _known_wechat_app(body.get("app_id"))
        openid = required_text(body, "openid", pattern=WECHAT_ID)
        person = world.wechat_people.find(app_id, openid)
        if person is None:
            raise HelperError("unknown user", {"openid": "no such openid in this app"})
        person.identity.update(_identity(body, fields=("phone",)))
        if not person.identity.phone:
            raise HelperError("the user has no phone number", {"phone": "give one"})
        return jsonify({"code": world.phone_codes.issue(app_id, openid)})

    @bp.get("/wechat/token-stats")
    def token_stats() -> Response:
        app_id = _known_wechat_app(request.args.get("app_id"))
        stats = world.app_tokens.stats(app_id)
        return jsonify(
            {"app_id": app_id, "token_calls": stats.token_calls, "stable_token_calls": stats.stable_token_calls}
        )

    @bp.delete("/wechat/token-stats")
    def reset_token_stats() -> Response:
        world.app_tokens.reset_stats(_known_wechat_app(request.args.get("app_id")))
        return jsonify({"reset": True})

    @bp.post("/wechat/expire-tokens")
    def expire_tokens() -> Response:
        app_id = _known_wechat_app(json_object(("app_id",)).get("app_id"))
        return jsonify({"app_id": app_id, "expired": world.app_tokens.expire_all(app_id)})

    @bp.post("/alipay/auth-code")
    def alipay_auth_code() -> Response:
        body = json_object(("app_id", "user_id", "nick_name", *_IDENTITY_FIELDS))
        app = world.config.alipay_app(required_text(body, "app_id"))
        if app is None:
            raise HelperError("unknown Alipay app", {"app_id": "not an Alipay app of this sandbox"})
        user_id, nick_name = text(body, "user_id", pattern=ALIPAY_USER_ID), text(body, "nick_name")
        user, open_id = world.alipay_people.enrol(app.app_id, user_id, nick_name, _identity(body))
        code = world.auth_codes.issue(app.app_id, user.user_id)
        return jsonify({"app_id": app.app_id, "auth_code": code, "user_id": user.user_id, "open_id": open_id})

    @bp.get("/messages")
    def messages() -> Response:
        channel = choice(request.args, "channel", ("wechat", "alipay"))
        user = text(request.args, "user", limit=128)
        return jsonify({"messages": world.outbox.list(channel, user)})

    @bp.delete("/messages")
    def forget_messages() -> Response:
        world.outbox.clear()
        return jsonify({"cleared": True})

    @bp.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": world.faults.armed(), "targets": TARGETS, "modes": list(MODES)})

    @bp.post("/faults")
    def arm_fault() -> tuple[Response, int]:
        fault = _fault(json_object(_FAULT_FIELDS))
        world.faults.arm(fault)
        return jsonify({"fault": fault.describe()}), 201

    @bp.delete("/faults")
    def clear_faults() -> Response:
        world.faults.clear()
        return jsonify({"faults": []})

    def _known_wechat_app(app_id: object) -> str:
        if not isinstance(app_id, str) or not app_id or world.config.wechat_app(app_id) is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        return app_id

    return bp


def _server_credentials(world: World, app_id: str) -> dict[str, str]:
    """An official account's server token and EncodingAESKey (and original id); nothing for a mini-program."""
    keys, app = world.official_account_keys.get(app_id), world.config.wechat_app(app_id)
    if keys is None or app is None:
        return {}
    return {
        "original_id": app.original_id or "",
        "token": keys.token,
        "token_file": str(keys.token_file),
        "aes_key": keys.encoding_aes_key,
        "aes_key_file": str(keys.encoding_aes_key_file),
    }


def _identity(body: dict[str, Any], fields: tuple[str, ...] = _IDENTITY_FIELDS) -> Identity:
    given = {key: text(body, key) for key in fields}
    if given.get("id_number"):
        given["id_number"] = given["id_number"].upper()  # the check character is typed as x too
    try:
        return Identity(**given)
    except InvalidIdentity as invalid:
        raise HelperError(str(invalid), {invalid.field_name: invalid.reason}) from None


def _fault(body: dict[str, Any]) -> Fault:
    target, mode = required_choice(body, "target", tuple(TARGETS)), required_choice(body, "mode", MODES)
    if mode == "rate_limit" and not target.startswith("wechat."):
        raise HelperError("rate_limit exists for WeChat targets only", {"mode": "not for Alipay"})
    delay = number(body, "delay_seconds", default=0.0, low=0.0, high=_MAX_DELAY_SECONDS)
    if mode == "slow" and delay <= 0:
        raise HelperError("slow needs delay_seconds", {"delay_seconds": f"a number in (0, {_MAX_DELAY_SECONDS}]"})
    times = whole_number(body, "times", low=1, high=_MAX_TIMES)
    errcode = whole_number(body, "errcode", low=_ERRCODE_RANGE[0], high=_ERRCODE_RANGE[1])
    persistent, close = flag(body, "persistent"), flag(body, "close_connection")
    # flaky is about alternation, so it keeps going unless told how many calls to cover.
    remaining = None if persistent or (mode == "flaky" and times is None) else (times or 1)
    return Fault(target, mode, remaining, delay, errcode, close)


def _snake(name: str) -> str:
    return "_".join(name.lower().split())
