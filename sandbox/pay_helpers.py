"""Helpers for the payment channels: the payer pays, what the sandbox saw, how refunds end, the ledger.

* `POST /_sandbox/wechat-pay/pay` and `POST /_sandbox/alipay/pay` `{out_trade_no, outcome?: success | failed,
  deliver?: bool}` -> `{payment, notification: {url, method, headers, body} | null}`: the payer pays the
  open order. Success is booked in the ledger and notified (unless deliver is false: then nothing is
  ever sent for it, but the notification is still answered so a test can send it itself). A failure
  makes a WeChat order PAYERROR and leaves an Alipay trade waiting; neither is notified.
  Unknown order 404 `sandbox.not_found`; paid 409 `sandbox.already_paid`; closed 409 `sandbox.order_closed`.
* `POST /_sandbox/alipay/finish {out_trade_no, deliver?}` -> the same shape: the refund window of a paid
  trade ends (TRADE_FINISHED, notified); 409 `sandbox.conflict` unless it is paid and not finished.
* `GET /_sandbox/payments/<out_trade_no>?channel=` -> the sandbox's view of the order, its refunds and
  every delivery of its notifications.
* `POST /_sandbox/refund-outcome {out_refund_no, outcome: success | abnormal | closed | processing}` ->
  `{out_refund_no, outcome, arranged, refunds}`: decides a WeChat refund still PROCESSING now, or
  arranges how the next refund with that number ends; 409 `sandbox.conflict` when it has ended.
* `GET /_sandbox/pay-ledger?date=YYYY-MM-DD&channel=` -> `{entries: [...]}`: money that moved, oldest first.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date
from typing import Any

from flask import Blueprint
from flask import Response
from flask import jsonify
from flask import request
from werkzeug.exceptions import NotFound

from sandbox import alipay_trade
from sandbox import wechat_pay
from sandbox.helper_blueprints import helper_blueprint
from sandbox.helper_input import HelperError
from sandbox.helper_input import choice
from sandbox.helper_input import flag
from sandbox.helper_input import json_object
from sandbox.helper_input import required_choice
from sandbox.helper_input import required_text
from sandbox.helper_input import text
from sandbox.pay_notifications import Notification
from sandbox.payments import ALIPAY
from sandbox.payments import CHANNELS
from sandbox.payments import NOT_PAID
from sandbox.payments import ORDER_CLOSED
from sandbox.payments import ORDER_FINISHED
from sandbox.payments import ORDER_PAID
from sandbox.payments import OUTCOMES
from sandbox.payments import WECHAT_PAY
from sandbox.payments import Order
from sandbox.payments import OrderKey
from sandbox.payments import PaymentRefusal
from sandbox.world import World

ALREADY_PAID = "sandbox.already_paid"
CLOSED_ORDER = "sandbox.order_closed"
CONFLICT = "sandbox.conflict"
_STATUSES = {ALREADY_PAID: 409, CLOSED_ORDER: 409, CONFLICT: 409}
_ANY_OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_*|-]{1,64}")
_OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_*|@-]{1,64}")
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_PAY_FIELDS = ("out_trade_no", "outcome", "deliver")

Payer = Callable[[World, OrderKey, bool], tuple[Order, Notification | None]]
# channel -> (how its payer pays, the format of its out_trade_no, its word for an order's state)
CHANNEL_RULES: dict[str, tuple[Payer, re.Pattern[str], Callable[[Order], str]]] = {
    WECHAT_PAY: (wechat_pay.pay, wechat_pay.OUT_TRADE_NO, wechat_pay.trade_state),
    ALIPAY: (alipay_trade.pay, alipay_trade.OUT_TRADE_NO, alipay_trade.trade_status),
}
# channel -> how it ends a refund still processing (Alipay's refunds end in the call that asks for them)
REFUND_SETTLERS: dict[str, Callable[[World, OrderKey, str, str | None], object]] = {
    WECHAT_PAY: wechat_pay.settle_refund,
}


def create_pay_helpers_blueprint(world: World) -> Blueprint:
    """The payment helpers under /_sandbox/."""
    bp = helper_blueprint("pay_helpers", __name__, _STATUSES)

    @bp.post("/wechat-pay/pay")
    def wechat_pay_pays() -> Response:
        return jsonify(_pay(world, WECHAT_PAY))

    @bp.post("/alipay/pay")
    def alipay_pays() -> Response:
        return jsonify(_pay(world, ALIPAY))

    @bp.post("/alipay/finish")
    def alipay_finishes() -> Response:
        body = json_object(("out_trade_no", "deliver"))
        order = _one_order(world, required_text(body, "out_trade_no", pattern=alipay_trade.OUT_TRADE_NO), ALIPAY)
        deliver = flag(body, "deliver", default=True)
        try:
            finished, notification = alipay_trade.finish(world, order.key)
        except PaymentRefusal as refusal:
            raise _refusal(refusal.reason) from None
        return jsonify(_answer(world, finished, notification, deliver))

    @bp.get("/payments/<out_trade_no>")
    def payment(out_trade_no: str) -> Response:
        channel = choice(request.args, "channel", CHANNELS)
        number = required_text({"out_trade_no": out_trade_no}, "out_trade_no", pattern=_ANY_OUT_TRADE_NO)
        return jsonify(describe(world, _one_order(world, number, channel)))

    @bp.post("/refund-outcome")
    def refund_outcome() -> Response:
        body = json_object(("out_refund_no", "outcome"))
        out_refund_no = required_text(body, "out_refund_no", pattern=_OUT_REFUND_NO)
        outcome = required_choice(body, "outcome", OUTCOMES)
        try:
            deciding = world.payments.arrange(out_refund_no, outcome)
        except PaymentRefusal:
            raise HelperError("that refund has ended", {"out_refund_no": "ended already"}, CONFLICT) from None
        for key in deciding:
            REFUND_SETTLERS[key[0]](world, key, out_refund_no, outcome)
        refunds = [
            {"channel": order.channel, "out_trade_no": order.out_trade_no, **refund.describe()}
            for order in (world.payments.find(key) for key in deciding)
            if order is not None
            for refund in order.refunds
            if refund.out_refund_no == out_refund_no
        ]
        return jsonify(
            {"out_refund_no": out_refund_no, "outcome": outcome, "arranged": not deciding, "refunds": refunds}
        )

    @bp.get("/pay-ledger")
    def ledger() -> Response:
        channel = choice(request.args, "channel", CHANNELS)
        day = text(request.args, "date", pattern=_ISO_DATE)
        try:
            on = date.fromisoformat(day) if day is not None else None
        except ValueError:
            raise HelperError("date is not a calendar day", {"date": "YYYY-MM-DD"}) from None
        return jsonify({"entries": [entry.describe() for entry in world.payments.ledger.entries(on, channel)]})

    return bp


def describe(world: World, order: Order) -> dict[str, Any]:
    """The sandbox's view of an order: the book's, the channel's state word, every notification try."""
    _, _, state_word = CHANNEL_RULES[order.channel]
    view = order.describe()
    view["state"] = state_word(order)
    view["deliveries"] = [delivery.describe() for delivery in world.notifier.deliveries(order.key)]
    return view


def _pay(world: World, channel: str) -> dict[str, Any]:
    payer, out_trade_no_format, _ = CHANNEL_RULES[channel]
    body = json_object(_PAY_FIELDS)
    out_trade_no = required_text(body, "out_trade_no", pattern=out_trade_no_format)
    succeeded = (choice(body, "outcome", ("success", "failed")) or "success") == "success"
    deliver = flag(body, "deliver", default=True)
    order = _one_order(world, out_trade_no, channel)
    try:
        paid, notification = payer(world, order.key, succeeded)
    except PaymentRefusal as refusal:
        raise _refusal(refusal.reason) from None
    return _answer(world, paid, notification, deliver)


def _answer(world: World, order: Order, notification: Notification | None, deliver: bool) -> dict[str, Any]:
    if notification is not None and deliver:
        world.notifier.send(notification)
    return {
        "payment": describe(world, order),
        "notification": notification.describe() if notification is not None else None,
    }


def _refusal(reason: str) -> HelperError:
    return {
        ORDER_PAID: HelperError("the order is paid already", {"out_trade_no": "paid"}, ALREADY_PAID),
        ORDER_FINISHED: HelperError("the trade has finished", {"out_trade_no": "finished"}, CONFLICT),
        ORDER_CLOSED: HelperError("the order is closed", {"out_trade_no": "closed"}, CLOSED_ORDER),
        NOT_PAID: HelperError("the trade is not paid", {"out_trade_no": "not paid"}, CONFLICT),
    }[reason]


def _one_order(world: World, out_trade_no: str, channel: str | None) -> Order:
    found = world.payments.find_by_number(out_trade_no, channel)
    if not found:
        raise NotFound(f"no order {out_trade_no}")
    if len(found) > 1:
        raise HelperError("several orders have this out_trade_no", {"channel": "name the channel"})
    return found[0]
