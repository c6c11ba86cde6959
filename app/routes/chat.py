"""Where WeChat pushes an official account's messages: each taken in once, answered within the 5-second limit.

The reply goes back passively when it is ready in time (most are; an upstream's answer usually
is). When it is not, WeChat gets "success" at once, so it never retries, and the reply follows
as a customer-service message from the background task that worked it out.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from sqlalchemy import select

from app.db_session import get_session
from app.operations import operation
from app.request_body import read_body
from chat.conversation import hand_over
from chat.conversation import take_in
from chat.models import ANSWERED
from chat.models import REPLIED
from chat.models import ChatMessage
from chat.ports import ChatRefused
from database.transaction import end_reads
from errors import Forbidden
from errors import NotFound

blueprint = Blueprint("chat", __name__)
security_log = logging.getLogger("citytiles.security")
# How often a push waiting for its reply looks whether the task has it.
POLL_SECONDS = 0.05


@blueprint.get("/channels/wechat/<app_id>/messages")
@operation(
    summary="WeChat's server check of an official account: echostr back when the signature is ours",
    tag="chat",
    errors=("chat.account_not_found", "chat.push_refused"),
)
def wechat_check(app_id: str) -> Response:
    """The body is echostr, as text."""
    account = _chat("wechat", app_id)
    try:
        echo = account.url_check(request.args)
    except ChatRefused as refused:
        raise _refused("wechat", app_id, refused) from refused
    return Response(echo, mimetype="text/plain")


@blueprint.post("/channels/wechat/<app_id>/messages")
@operation(
    summary="An official account's message or event (plain or safe mode): a passive reply, or success",
    tag="chat",
    errors=("chat.account_not_found", "chat.push_refused", "request.too_large"),
)
def wechat_message(app_id: str) -> Response:
    """WeChat waits 5 s and retries twice: the same message acts once, whatever arrives when."""
    account = _chat("wechat", app_id)
    desk = current_app.extensions["chat_desk"]
    try:
        incoming = account.read(request.args, read_body())
    except ChatRefused as refused:
        raise _refused("wechat", app_id, refused) from refused
    session = get_session()
    taken = take_in(session, desk, incoming)
    if taken.queued:
        current_app.extensions["tasks"].kick()
    text = _reply_in_time(taken.message_id)
    body = account.passive(request.args, incoming.user, text or "")
    return Response(body, mimetype="text/plain" if body == "success" else "application/xml")


def _reply_in_time(message_id: int) -> str | None:
    """The reply if it is ready before the budget runs out; else None, and the task sends it later."""
    desk = current_app.extensions["chat_desk"]
    session = get_session()
    deadline = time.monotonic() + current_app.extensions["settings"].chat_reply_seconds
    while True:
        ready = session.scalar(
            select(ChatMessage.id).where(
                ChatMessage.id == message_id,
                ChatMessage.state.in_((ANSWERED, REPLIED)),
                ChatMessage.reply_sealed.is_not(None),
            )
        )
        end_reads(session)
        giving_up = time.monotonic() >= deadline
        if ready is not None or giving_up:
            return hand_over(session, desk, message_id, giving_up=giving_up)
        time.sleep(POLL_SECONDS)


def _chat(channel: str, app_id: str) -> Any:
    found = current_app.extensions["channels"].chats.get(app_id)
    if found is None or getattr(found, "channel", None) != channel:
        raise NotFound("chat.account_not_found", "No such account.")
    return found


def _refused(channel: str, app_id: str, refused: ChatRefused) -> Forbidden:
    security_log.warning(
        "a chat push was refused", extra={"channel": channel, "app_id": app_id, "reason": refused.reason}
    )
    return Forbidden("chat.push_refused", "This push is not the channel's own.")
