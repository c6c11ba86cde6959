"""The life account's customer-service message on the gateway: alipay.open.public.message.custom.send.

biz_content `{to_user_id, msg_type: "text", text: {content}}` -> `{code: "10000", msg: "Success"}`.
A user who does not follow the life account (or is unknown) gets code 40004 PUBLIC.USER_NOT_FOLLOW;
another msg_type or no content 40004 PUBLIC.PARAM_ILLEGAL (the sandbox's wording); a mini-program
app 40006 isv.insufficient-isv-permissions. The message is listed by GET /_sandbox/messages as kind
"customer_service".
"""

from __future__ import annotations

from typing import Any

from sandbox.alipay_wire import AlipayError
from sandbox.outbox import CUSTOMER_SERVICE
from sandbox.settings import LIFE_ACCOUNT
from sandbox.settings import AlipayApp
from sandbox.world import World

CHANNEL = "alipay"
CONTENT_LIMIT = 2000  # characters


def send_custom_message(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.open.public.message.custom.send: a text from the life account to one of its followers."""
    if app.kind != LIFE_ACCOUNT:
        raise AlipayError("40006", "isv.insufficient-isv-permissions", "ISV权限不足，该应用不是生活号")
    to_user_id, text = biz.get("to_user_id"), biz.get("text")
    if not isinstance(to_user_id, str) or not to_user_id:
        raise AlipayError("40004", "PUBLIC.PARAM_ILLEGAL", "参数不合法：to_user_id不能为空")
    if biz.get("msg_type") != "text":
        raise AlipayError("40004", "PUBLIC.PARAM_ILLEGAL", "参数不合法：msg_type仅支持text")
    content = text.get("content") if isinstance(text, dict) else None
    if not isinstance(content, str) or not content or len(content) > CONTENT_LIMIT:
        raise AlipayError("40004", "PUBLIC.PARAM_ILLEGAL", f"参数不合法：text.content为1-{CONTENT_LIMIT}个字符")
    user = world.alipay_people.find(to_user_id)
    follow = world.followers.find(CHANNEL, app.app_id, to_user_id)
    if user is None or follow is None or not follow.following:
        raise AlipayError("40004", "PUBLIC.USER_NOT_FOLLOW", "用户未关注该生活号")
    world.outbox.deliver(
        channel=CHANNEL,
        app_id=app.app_id,
        user=to_user_id,
        open_id=user.open_ids.get(app.app_id),
        template_id=None,
        data={},
        page=None,
        msgid=world.message_ids.new(),
        kind=CUSTOMER_SERVICE,
        text=content,
    )
    return {"code": "10000", "msg": "Success"}
