"""Helpers for notice subscriptions: the user accepts a template in the super-app, and what is left.

* `POST /_sandbox/wechat/subscribe {app_id, openid, template_id}` and
  `POST /_sandbox/alipay/subscribe {app_id, user_id, template_id}` -> `{..., credits}`:
  the user tapped "allow" on the app's subscription prompt for template_id, once.
* `GET /_sandbox/subscriptions?channel=&user=` -> `{subscriptions: [{channel, app_id, user, template_id, credits}]}`.
* `GET /_sandbox/notice-templates` -> every app's templates and their keywords.
"""

from __future__ import annotations

import re

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request

from sandbox.helper_blueprints import helper_blueprint
from sandbox.helper_input import HelperError
from sandbox.helper_input import choice
from sandbox.helper_input import json_object
from sandbox.helper_input import required_text
from sandbox.helper_input import text
from sandbox.notice_templates import NOTICE_TEMPLATES
from sandbox.notice_templates import notice_template
from sandbox.residents import ALIPAY_USER_ID
from sandbox.residents import WECHAT_ID
from sandbox.settings import MINI_PROGRAM
from sandbox.world import World

TEMPLATE_ID = re.compile(r"[A-Za-z0-9_=+/-]{1,64}")


def create_subscription_helpers_blueprint(world: World) -> Blueprint:
    """The subscription helpers under /_sandbox/."""
    bp = helper_blueprint("subscription_helpers", __name__)

    @bp.post("/wechat/subscribe")
    def wechat_subscribe() -> Response:
        body = json_object(("app_id", "openid", "template_id"))
        app = world.config.wechat_app(required_text(body, "app_id"))
        if app is None:
            raise HelperError("unknown WeChat app", {"app_id": "not a WeChat app of this sandbox"})
        if app.kind != MINI_PROGRAM:
            raise HelperError("subscribe messages are a mini-program capability", {"app_id": "not a mini-program"})
        openid = required_text(body, "openid", pattern=WECHAT_ID)
        template_id = required_text(body, "template_id", pattern=TEMPLATE_ID)
        if world.wechat_people.find(app.app_id, openid) is None:
            raise HelperError("unknown user", {"openid": "no such openid in this app"})
        if notice_template("wechat", app.app_id, template_id) is None:
            raise HelperError("unknown template", {"template_id": "not a template of this app"})
        credits = world.subscriptions.accept("wechat", app.app_id, openid, template_id)
        return jsonify({"app_id": app.app_id, "openid": openid, "template_id": template_id, "credits": credits})

    @bp.post("/alipay/subscribe")
    def alipay_subscribe() -> Response:
        body = json_object(("app_id", "user_id", "template_id"))
        app = world.config.alipay_app(required_text(body, "app_id"))
        if app is None:
            raise HelperError("unknown Alipay app", {"app_id": "not an Alipay app of this sandbox"})
        user_id = required_text(body, "user_id", pattern=ALIPAY_USER_ID)
        template_id = required_text(body, "template_id", pattern=TEMPLATE_ID)
        user = world.alipay_people.find(user_id)
        if user is None or app.app_id not in user.open_ids:
            raise HelperError("unknown user", {"user_id": "no such user in this app"})
        if notice_template("alipay", app.app_id, template_id) is None:
            raise HelperError("unknown template", {"template_id": "not a template of this app"})
        credits = world.subscriptions.accept("alipay", app.app_id, user_id, template_id)
        return jsonify({"app_id": app.app_id, "user_id": user_id, "template_id": template_id, "credits": credits})

    @bp.get("/subscriptions")
    def subscriptions() -> Response:
        channel = choice(request.args, "channel", ("wechat", "alipay"))
        user = text(request.args, "user", limit=128)
        return jsonify({"subscriptions": world.subscriptions.list(channel, user)})

    @bp.get("/notice-templates")
    def templates() -> Response:
        listed: dict[str, dict[str, list[dict[str, object]]]] = {"wechat": {}, "alipay": {}}
        for (channel, app_id), app_templates in NOTICE_TEMPLATES.items():
            listed[channel][app_id] = [t.describe() for t in app_templates]
        return jsonify(listed)

    return bp
