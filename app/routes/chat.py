"""Where WeChat and Alipay push their accounts' messages: each taken in once, answered within the channel's limit.

WeChat: the reply goes back passively when it is ready in time (most are; an upstream's answer
usually is). When it is not, WeChat gets "success" at once, so it never retries, and the reply
follows as a customer-service message from the background task that worked it out.
Alipay (life accounts) takes no reply in the answer: it gets a signed acknowledgement once the
message is stored, and every reply follows as a message of its own.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

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
# What Alipay pushes to a life account (the `service` field) -> the signed answer it gets.
ALIPAY_SERVICES: dict[str, Callable[[Any, dict[str, str]], str]] = {
    "alipay.service.check": lambda account, form: str(account.gateway_check(form)),
    "alipay.mobile.public.message.notify": lambda account, form: _take_in_alipay(account, form),
}


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


@blueprint.post("/channels/alipay/<app_id>/gateway")
@operation(
    summary="A life account's gateway check or message (Alipay's form, RSA2-signed): a signed XML answer",
    tag="chat",
    errors=("chat.account_not_found", "chat.push_refused", "request.too_large"),
)
def alipay_gateway(app_id: str) -> Response:
    """Alipay sends each push until it is acknowledged: the same message acts once, whatever arrives when."""
    account = _chat("alipay", app_id)
    try:
        form = _form(read_body())
        answer = ALIPAY_SERVICES.get(form.get("service", ""))
        if answer is None:
            raise ChatRefused("a service Alipay does not push to life accounts")
        body = answer(account, form)
    except ChatRefused as refused:
        raise _refused("alipay", app_id, refused) from refused
    return Response(body, mimetype="text/xml")


def _take_in_alipay(account: Any, form: dict[str, str]) -> str:
    """Store the message (its reply is the task's), then acknowledge it."""
    taken = take_in(get_session(), current_app.extensions["chat_desk"], account.read(form))
    if taken.queued:
        current_app.extensions["tasks"].kick()
    return str(account.acknowledgement())


def _form(body: bytes) -> dict[str, str]:
    """The push's form fields, read from the raw bytes as UTF-8; a field sent twice is garbled."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as garbled:
        raise ChatRefused("the form cannot be read") from garbled
    form = dict(pairs)
    if len(form) != len(pairs):
        raise ChatRefused("a field is sent twice")
    return form


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
