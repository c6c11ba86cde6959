"""Where WeChat Pay and Alipay send payment and refund notifications; "received" only once applied.

The answer is the channel's own: WeChat Pay reads the HTTP status (2xx received, anything else
sends again), Alipay reads the body (exactly `success`). A notification for a merchant we do not
have is a 404, which both read as "send again". app/callback_lane.py serves these two paths ahead of
Flask for the merchants we have, with the same work (take_notification) and the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Blueprint
from flask import Response
from flask import current_app
from flask import request
from sqlalchemy.orm import Session

from app.db_session import get_session
from app.operations import operation
from app.request_body import read_body
from billing.gateway import Acknowledgement
from billing.gateway import PaymentGateway
from billing.notifications import APPLIED
from billing.notifications import receive_notification
from errors import NotFound

blueprint = Blueprint("payment_callbacks", __name__)


@blueprint.post("/callbacks/wechat-pay/<mch_id>")
@operation(
    summary="WeChat Pay v3 payment and refund notifications: 200 once applied, 4xx/5xx to be sent again",
    tag="payments",
    errors=("billing.merchant_not_found",),
)
def wechat_pay(mch_id: str) -> Response:
    """A WeChat Pay v3 notification for one of our merchants."""
    return _receive(_gateway("wechat", mch_id))


@blueprint.post("/callbacks/alipay/<app_id>")
@operation(
    summary="Alipay payment and refund notifications: the body `success` once applied, anything else to be sent again",
    tag="payments",
    errors=("billing.merchant_not_found",),
)
def alipay(app_id: str) -> Response:
    """An Alipay notification for one of our apps."""
    return _receive(_gateway("alipay", app_id))


def _gateway(channel: str, merchant_id: str) -> PaymentGateway:
    gateway = current_app.extensions["channels"].merchant(channel, merchant_id)
    if gateway is None:
        raise NotFound("billing.merchant_not_found", "No such merchant.")
    return gateway


def _receive(gateway: PaymentGateway) -> Response:
    answer = take_notification(get_session(), current_app.extensions, gateway, request.headers, read_body())
    return Response(answer.body, status=answer.status, content_type=answer.content_type)


def take_notification(
    session: Session, extensions: Mapping[str, Any], gateway: PaymentGateway, headers: Mapping[str, str], body: bytes
) -> Acknowledgement:
    """Receive one delivery and say what the channel must hear; the work of this view and of app/callback_lane.py."""
    receipt = receive_notification(
        session, gateway, headers, body, vault=extensions["vault"], clock=extensions["clock"]
    )
    if receipt.outcome == APPLIED:
        extensions["tasks"].kick()  # its follow-up work (e.g. booking the paid place), after this answer
    return gateway.acknowledgement(receipt.received)
