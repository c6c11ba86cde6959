"""Test helpers under /_sandbox/: play the user's side of the super-apps, read what was sent, break things.

Every helper speaks JSON. Bad input is answered 400 with
`{"error": {"code": "sandbox.invalid_request", "message": ..., "details": {field: reason}}}`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from flask import send_from_directory

from sandbox.faults import MODES
from sandbox.faults import TARGETS
from sandbox.faults import Fault
from sandbox.residents import Identity
from sandbox.residents import ResidentConflict
from sandbox.settings import MINI_PROGRAM
from sandbox.settings import OFFICIAL_ACCOUNT
from sandbox.world import LoginGrant
from sandbox.world import World

STATIC_DIR = Path(__file__).parent / "static"

_WECHAT_ID = re.compile(r"[A-Za-z0-9_-]{6,64}")
_ALIPAY_USER_ID = re.compile(r"2088\d{12}")
_ID_NUMBER = re.compile(r"\d{17}[\dXx]")
_PHONE = re.compile(r"1\d{10}")
_FORBIDDEN_IN_TEXT = re.compile(r"[{}\x00-\x1f]")  # braces would break Alipay's brace-counting clients


class HelperError(Exception):
    """Bad helper input; answered 400."""

    def __init__(
        self, message: str, details: dict[str, str] | None = None, code: str = "sandbox.invalid_request"
    ) -> None:
        super().__init__(message)
        self.message, self.details, self.code = message, details or {}, code


def create_control_blueprint(world: World) -> Blueprint:
    """Routes under /_sandbox/ (the citytiles proxy lives in sandbox.proxy)."""
    bp = Blueprint("control", __name__, url_prefix="/_sandbox")

    @bp.errorhandler(HelperError)
    def bad_input(error: HelperError) -> tuple[Response, int]:
        return jsonify({"error": {"code": error.code, "message": error.message, "details": error.details}}), 400

    @bp.get("/")
    def page() -> Response:
        return send_from_directory(STATIC_DIR, "index.html")

    @bp.get("/config")
    def describe() -> Response:
        return jsonify(
            {
                "wechat_apps": [
                    {"app_id": a.app_id, "kind": a.kind, "name": a.name, "unionid_space": a.unionid_space}
                    for a in world.config.wechat_apps
                ],
                "alipay_apps": [{"app_id": a.app_id, "name": a.name} for a in world.config.alipay_apps],
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
                    {"app_id": app_id, "secret": secret, "secret_file": str(paths.wechat_secret(app_id))}
                    for app_id, secret in keys.wechat_secrets.items()
                ],
                "alipay": {
                    "app_ids": [a.app_id for a in world.config.alipay_apps],
                    "alipay_public_key_pem": keys.alipay_public_key_pem,
                    "alipay_public_key_file": str(paths.alipay_public_key),
                    "app_private_key_pem": keys.alipay_app_private_key_pem,
                    "app_private_key_file": str(paths.alipay_app_private_key),
                },
            }
        )

    @bp.post("/wechat/login-code")
    def wechat_login_code() -> Response:
        body = _payload()
        app = world.config.wechat_app(_required(body, "app_id"))
        if app is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        scope = _optional(body, "scope", re.compile(r"snsapi_base|snsapi_userinfo"))
        if scope is not None and app.kind != OFFICIAL_ACCOUNT:
            raise HelperError("scope applies to official accounts only", {"scope": "not for a mini-program"})
        try:
            person, openid = world.wechat_people.enrol(
                app,
                _optional(body, "openid", _WECHAT_ID),
                _optional(body, "unionid", _WECHAT_ID),
                _identity(body),
            )
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
        body = _payload()
        app_id, openid = _required(body, "app_id"), _required(body, "openid")
        person = world.wechat_people.find(app_id, openid)
        if person is None:
            raise HelperError("unknown user", {"openid": "no such openid in this app"})
        phone = _optional(body, "phone", _PHONE)
        if phone is not None:
            person.identity.update(None, None, phone)
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
        app_id = _known_wechat_app(_payload().get("app_id"))
        return jsonify({"app_id": app_id, "expired": world.app_tokens.expire_all(app_id)})

    @bp.post("/alipay/auth-code")
    def alipay_auth_code() -> Response:
        body = _payload()
        app = world.config.alipay_app(_required(body, "app_id"))
        if app is None:
            raise HelperError("unknown Alipay app", {"app_id": "not an Alipay app of this sandbox"})
        user, open_id = world.alipay_people.enrol(
            app.app_id,
            _optional(body, "user_id", _ALIPAY_USER_ID),
            _optional(body, "nick_name"),
            _identity(body),
        )
        code = world.auth_codes.issue(app.app_id, user.user_id)
        return jsonify({"app_id": app.app_id, "auth_code": code, "user_id": user.user_id, "open_id": open_id})

    @bp.get("/messages")
    def messages() -> Response:
        channel = request.args.get("channel")
        if channel not in (None, "wechat", "alipay"):
            raise HelperError("unknown channel", {"channel": "wechat or alipay"})
        return jsonify({"messages": world.outbox.list(channel, request.args.get("user"))})

    @bp.delete("/messages")
    def forget_messages() -> Response:
        world.outbox.clear()
        return jsonify({"cleared": True})

    @bp.get("/faults")
    def list_faults() -> Response:
        return jsonify({"faults": world.faults.armed(), "targets": TARGETS, "modes": list(MODES)})

    @bp.post("/faults")
    def arm_fault() -> tuple[Response, int]:
        fault = _fault(_payload())
        world.faults.arm(fault)
        return jsonify({"fault": fault.describe()}), 201

    @bp.delete("/faults")
    def clear_faults() -> Response:
        world.faults.clear()
        return jsonify({"faults": []})

    def _known_wechat_app(app_id: object) -> str:
        if not isinstance(app_id, str) or world.config.wechat_app(app_id) is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        return app_id

    return bp


def _payload() -> dict[str, Any]:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise HelperError("the body must be a JSON object", {"body": "not a JSON object"})
    return body


def _required(body: dict[str, Any], key: str) -> str:
    value = body.get(key)
    if not isinstance(value, str) or not value:
        raise HelperError(f"{key} is required", {key: "required string"})
    return value


def _optional(body: dict[str, Any], key: str, pattern: re.Pattern[str] | None = None) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise HelperError(f"{key} must be a non-empty string", {key: "not a non-empty string"})
    value = value.strip()
    if pattern is not None and not pattern.fullmatch(value):
        raise HelperError(f"{key} has the wrong format", {key: f"must match {pattern.pattern}"})
    if pattern is None and (len(value) > 64 or _FORBIDDEN_IN_TEXT.search(value)):
        reason = "at most 64 characters, no braces or control characters"
        raise HelperError(f"{key} is not acceptable text", {key: reason})
    return value


def _identity(body: dict[str, Any]) -> Identity:
    id_number = _optional(body, "id_number", _ID_NUMBER)
    return Identity(
        _optional(body, "real_name"), id_number.upper() if id_number else None, _optional(body, "phone", _PHONE)
    )


def _fault(body: dict[str, Any]) -> Fault:
    target, mode = body.get("target"), body.get("mode")
    if target not in TARGETS:
        raise HelperError("unknown fault target", {"target": "one of " + ", ".join(TARGETS)})
    if mode not in MODES:
        raise HelperError("unknown fault mode", {"mode": "one of " + ", ".join(MODES)})
    if mode == "rate_limit" and not target.startswith("wechat."):
        raise HelperError("rate_limit exists for WeChat targets only", {"mode": "not for Alipay"})
    delay = body.get("delay_seconds", 0)
    if mode == "slow" and (isinstance(delay, bool) or not isinstance(delay, (int, float)) or not 0 < delay <= 300):
        raise HelperError("slow needs delay_seconds", {"delay_seconds": "a number in (0, 300]"})
    times, persistent = body.get("times"), body.get("persistent", False)
    if times is not None and (isinstance(times, bool) or not isinstance(times, int) or times < 1):
        raise HelperError("times must be a positive integer", {"times": "integer >= 1"})
    if not isinstance(persistent, bool):
        raise HelperError("persistent must be a boolean", {"persistent": "true or false"})
    errcode, close = body.get("errcode"), body.get("close_connection", False)
    if errcode is not None and (isinstance(errcode, bool) or not isinstance(errcode, int)):
        raise HelperError("errcode must be an integer", {"errcode": "WeChat errcode"})
    if not isinstance(close, bool):
        raise HelperError("close_connection must be a boolean", {"close_connection": "true or false"})
    # flaky is about alternation, so it keeps going unless told how many calls to cover.
    remaining = None if persistent or (mode == "flaky" and times is None) else (times or 1)
    return Fault(target, mode, remaining, float(delay), errcode, close)
