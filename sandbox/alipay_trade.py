"""Alipay's trade API on the gateway (mini-program payments, JSAPI_PAY) and its asynchronous notifications.

Methods (biz_content fields; amounts are yuan strings with exactly two decimals, "12.30"):
* alipay.trade.create {out_trade_no, total_amount, subject, product_code: JSAPI_PAY, buyer_open_id |
  buyer_id, op_app_id, body?, passback_params?, time_expire? | timeout_express?} with the common
  parameter notify_url -> {code 10000, out_trade_no, trade_no}. The same out_trade_no with the same
  content answers the same trade_no; with other content ACQ.CONTEXT_INCONSISTENT; once paid
  ACQ.TRADE_HAS_SUCCESS; once closed ACQ.TRADE_HAS_CLOSE.
* alipay.trade.query {out_trade_no | trade_no} -> trade_status WAIT_BUYER_PAY, TRADE_SUCCESS,
  TRADE_CLOSED (unpaid and closed, or refunded in full) or TRADE_FINISHED (the refund window has
  ended: POST /_sandbox/alipay/finish); unknown: 40004 ACQ.TRADE_NOT_EXIST.
* alipay.trade.close {out_trade_no | trade_no} -> closes a trade waiting for the buyer; anything else
  ACQ.TRADE_STATUS_ERROR.
* alipay.trade.refund {out_trade_no | trade_no, refund_amount, out_request_no?, refund_reason?} ->
  {fund_change: "Y", refund_fee: what has been refunded in all}; the same out_request_no again
  answers fund_change "N". More than is left: ACQ.REFUND_AMT_NOT_EQUAL_TOTAL; unpaid:
  ACQ.TRADE_STATUS_ERROR; closed: ACQ.TRADE_HAS_CLOSE; finished: ACQ.TRADE_HAS_FINISHED. Refunds are
  synchronous: a refund helpers arranged to end "abnormal" fails with ACQ.BUYER_ERROR, "closed" with
  ACQ.SELLER_BALANCE_NOT_ENOUGH.
* alipay.trade.fastpay.refund.query {out_request_no, out_trade_no | trade_no} -> refund_status
  REFUND_SUCCESS with refund_amount; a refund that never happened has no refund fields.

Notifications are form posts to the trade's notify_url, signed RSA2 with the platform key over the
sorted fields except sign and sign_type; a refund is notified to the same notify_url with refund_fee,
gmt_refund and out_biz_no (the out_request_no).
"""

from __future__ import annotations

import json
import re
import secrets
import time
import uuid
from datetime import datetime
from typing import Any

from sandbox.alipay_wire import AlipayError
from sandbox.alipay_wire import signed_form
from sandbox.outbox import BEIJING
from sandbox.pay_notifications import Notification
from sandbox.payments import ABNORMAL
from sandbox.payments import ALIPAY
from sandbox.payments import CLOSED
from sandbox.payments import FINISHED
from sandbox.payments import NOT_PAID
from sandbox.payments import ORDER_CLOSED
from sandbox.payments import ORDER_FINISHED
from sandbox.payments import ORDER_PAID
from sandbox.payments import OVER_REFUND
from sandbox.payments import PAID
from sandbox.payments import REFUND_CLOSED
from sandbox.payments import SETTLED
from sandbox.payments import SUCCESS
from sandbox.payments import TERMS_DIFFER
from sandbox.payments import Order
from sandbox.payments import OrderKey
from sandbox.payments import PaymentRefusal
from sandbox.payments import Refund
from sandbox.residents import AlipayUser
from sandbox.settings import AlipayApp
from sandbox.world import World

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_]{1,64}")
OUT_REQUEST_NO = re.compile(r"[A-Za-z0-9_*|@-]{1,64}")
TRADE_NO = re.compile(r"[0-9]{1,64}")
YUAN = re.compile(r"(0|[1-9][0-9]{0,8})\.[0-9]{2}")
MAX_FEN = 100_000_000_00  # 100 million yuan
NOTIFY_URL = re.compile(r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?")
TIME_EXPIRE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
TIMEOUT_EXPRESS = re.compile(r"([1-9][0-9]{0,4})([mhd])")
_UNIT_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_SUBJECT_FORBIDDEN = frozenset("/=&")

ACQ_SYSTEM_ERROR = ("20000", "ACQ.SYSTEM_ERROR", "系统错误")
# The outcome a helper arranged for a refund -> how Alipay's (synchronous) refund call fails instead.
_ARRANGED_FAILURES = {
    ABNORMAL: ("ACQ.BUYER_ERROR", "买家状态非法"),
    REFUND_CLOSED: ("ACQ.SELLER_BALANCE_NOT_ENOUGH", "卖家余额不足"),
}


def create_trade(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.trade.create: open the trade the buyer will pay with my.tradePay."""
    out_trade_no = _text(biz, "out_trade_no", pattern=OUT_TRADE_NO)
    total = _fen(biz, "total_amount")
    subject = _text(biz, "subject", limit=256)
    if set(subject) & _SUBJECT_FORBIDDEN:
        raise _invalid("subject不能包含/、=、&等特殊字符")
    if biz.get("product_code") != "JSAPI_PAY":
        raise _invalid("product_code必须为JSAPI_PAY（小程序支付）")
    if biz.get("op_app_id") != app.app_id:
        raise _invalid("op_app_id必须为调用方的小程序appid")
    user, open_id = _buyer(world, app, biz)
    body = _optional_text(biz, "body", limit=128)
    passback = _optional_text(biz, "passback_params", limit=512)
    expires_at, expiry = _expiry(biz)
    notify_url = params.get("notify_url") or None
    if notify_url is not None and not NOTIFY_URL.fullmatch(notify_url):
        raise AlipayError("40002", "isv.invalid-notify-url", "notify_url格式不正确")
    order = Order(
        channel=ALIPAY,
        merchant=app.seller_id,
        app_id=app.app_id,
        out_trade_no=out_trade_no,
        amount_fen=total,
        payer=user.user_id,
        subject=subject,
        notify_url=notify_url,
        terms=(app.app_id, total, subject, user.user_id, notify_url, body, passback, expiry),
        created_at=time.time(),
        expires_at=expires_at,
        payer_open_id=open_id,
        trade_no=_trade_no(),
        attach=passback,
    )
    try:
        opened, _ = world.payments.open(order)
    except PaymentRefusal as refusal:
        raise {
            ORDER_PAID: AlipayError("40004", "ACQ.TRADE_HAS_SUCCESS", "交易已被支付"),
            ORDER_CLOSED: AlipayError("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
            ORDER_FINISHED: AlipayError("40004", "ACQ.TRADE_HAS_FINISHED", "交易已经完结"),
            TERMS_DIFFER: AlipayError("40004", "ACQ.CONTEXT_INCONSISTENT", "交易信息被篡改"),
        }[refusal.reason] from None
    return {"code": "10000", "msg": "Success", "out_trade_no": opened.out_trade_no, "trade_no": opened.trade_no}


def query_trade(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.trade.query: the trade as it stands."""
    order = _trade(world, app, biz)
    answer: dict[str, Any] = {"code": "10000", "msg": "Success", "trade_no": order.trade_no}
    answer["out_trade_no"] = order.out_trade_no
    answer["trade_status"] = trade_status(order)
    answer["total_amount"] = yuan(order.amount_fen)
    if order.state in SETTLED and order.paid_at is not None:
        paid = yuan(order.amount_fen)
        answer.update(buyer_pay_amount=paid, receipt_amount=paid, invoice_amount=paid, point_amount="0.00")
        answer["send_pay_date"] = alipay_time(order.paid_at)
        answer["fund_bill_list"] = [{"fund_channel": "ALIPAYACCOUNT", "amount": paid}]
    answer["buyer_user_id"] = order.payer
    if order.payer_open_id is not None:
        answer["buyer_open_id"] = order.payer_open_id
    return answer


def close_trade(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.trade.close: close a trade still waiting for the buyer."""
    order = _trade(world, app, biz)
    try:
        _, changed = world.payments.close(order.key)
    except PaymentRefusal:  # paid: only a trade waiting for the buyer can be closed
        changed = False
    if not changed:
        raise AlipayError("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法")
    return {"code": "10000", "msg": "Success", "trade_no": order.trade_no, "out_trade_no": order.out_trade_no}


def refund_trade(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.trade.refund: money back to the buyer, at once; fund_change says whether this call moved it."""
    order = _trade(world, app, biz)
    amount = _fen(biz, "refund_amount")
    out_request_no = _optional_text(biz, "out_request_no", pattern=OUT_REQUEST_NO) or order.out_trade_no
    reason = _optional_text(biz, "refund_reason", limit=256)
    if order.refund(out_request_no) is None:
        _refundable(order, amount)
        arranged = world.payments.arrangement(out_request_no)
        if arranged in _ARRANGED_FAILURES:
            world.payments.forget_arrangement(out_request_no)
            raise AlipayError("40004", *_ARRANGED_FAILURES[arranged])
    try:
        refunded, refund, new = world.payments.start_refund(
            order.key, out_request_no, amount, _refund_id, notify_url=order.notify_url, reason=reason, at_once=True
        )
    except PaymentRefusal as refusal:
        raise _refund_refusal(refusal.reason) from None
    if new and refunded.notify_url is not None:
        world.notifier.send(refund_notification(world, refunded, refund))
    answer: dict[str, Any] = {"code": "10000", "msg": "Success", "trade_no": refunded.trade_no}
    answer["out_trade_no"] = refunded.out_trade_no
    answer["fund_change"] = "Y" if new else "N"
    answer["refund_fee"] = yuan(refunded.refunded_fen)
    answer["gmt_refund_pay"] = alipay_time(refund.settled_at or refund.created_at)
    answer["buyer_user_id"] = refunded.payer
    if refunded.payer_open_id is not None:
        answer["buyer_open_id"] = refunded.payer_open_id
    return answer


def query_refund(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.trade.fastpay.refund.query: a refund that happened, or nothing but the trade's numbers."""
    out_request_no = _text(biz, "out_request_no", pattern=OUT_REQUEST_NO)
    order = _trade(world, app, biz)
    answer: dict[str, Any] = {"code": "10000", "msg": "Success", "trade_no": order.trade_no}
    answer["out_trade_no"] = order.out_trade_no
    answer["out_request_no"] = out_request_no
    refund = order.refund(out_request_no)
    if refund is not None and refund.status == SUCCESS:
        answer["total_amount"] = yuan(order.amount_fen)
        answer["refund_amount"] = yuan(refund.amount_fen)
        answer["refund_status"] = "REFUND_SUCCESS"
        answer["gmt_refund_pay"] = alipay_time(refund.settled_at or refund.created_at)
    return answer


def pay(world: World, key: OrderKey, succeeded: bool) -> tuple[Order, Notification | None]:
    """The buyer pays in my.tradePay (or gives up); on success, the TRADE_SUCCESS notification to send."""
    order = world.payments.pay(key, succeeded, _trade_no)
    if order.state != PAID or order.notify_url is None:
        return order, None
    return order, _notification(world, order, "payment", {})


def finish(world: World, key: OrderKey) -> tuple[Order, Notification | None]:
    """The refund window ends (TRADE_FINISHED); the notification Alipay sends for it."""
    order = world.payments.finish(key)
    return order, _notification(world, order, "finish", {}) if order.notify_url is not None else None


def refund_notification(world: World, order: Order, refund: Refund) -> Notification:
    """The notification of a refund: to the trade's notify_url, with refund_fee, gmt_refund and out_biz_no."""
    extra = {
        "refund_fee": yuan(order.refunded_fen),
        "gmt_refund": alipay_time(refund.settled_at or refund.created_at, milliseconds=True),
        "out_biz_no": refund.out_refund_no,
    }
    return _notification(world, order, "refund", extra)


def trade_status(order: Order) -> str:
    """WAIT_BUYER_PAY, TRADE_SUCCESS, TRADE_FINISHED, or TRADE_CLOSED (closed unpaid, or refunded in full)."""
    if order.state == FINISHED:
        return "TRADE_FINISHED"
    if order.state == PAID:
        return "TRADE_CLOSED" if order.refunded_fen >= order.amount_fen else "TRADE_SUCCESS"
    return "TRADE_CLOSED" if order.state == CLOSED else "WAIT_BUYER_PAY"


def yuan(fen: int) -> str:
    """Fen as Alipay writes amounts: yuan with two decimals."""
    return f"{fen // 100}.{fen % 100:02d}"


def alipay_time(at: float, milliseconds: bool = False) -> str:
    """Unix seconds as Alipay writes times, Beijing time: 2024-01-01 10:00:00 (or .123)."""
    moment = datetime.fromtimestamp(at, BEIJING)
    text = moment.strftime("%Y-%m-%d %H:%M:%S")
    return text + f".{moment.microsecond // 1000:03d}" if milliseconds else text


def _notification(world: World, order: Order, kind: str, extra: dict[str, str]) -> Notification:
    status = trade_status(order)
    fields = {
        "notify_time": alipay_time(time.time()),
        "notify_type": "trade_status_sync",
        "notify_id": uuid.uuid4().hex,
        "app_id": order.app_id,
        "auth_app_id": order.app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": order.trade_no or "",
        "out_trade_no": order.out_trade_no,
        "buyer_id": order.payer,
        "buyer_open_id": order.payer_open_id or "",
        "seller_id": order.merchant,
        "trade_status": status,
        "total_amount": yuan(order.amount_fen),
        "receipt_amount": yuan(order.amount_fen),
        "invoice_amount": yuan(order.amount_fen),
        "buyer_pay_amount": yuan(order.amount_fen),
        "point_amount": "0.00",
        "subject": order.subject,
        "gmt_create": alipay_time(order.created_at),
        "gmt_payment": alipay_time(order.paid_at) if order.paid_at is not None else "",
        "gmt_close": alipay_time(time.time()) if status in ("TRADE_CLOSED", "TRADE_FINISHED") else "",
        "fund_bill_list": json.dumps(
            [{"amount": yuan(order.amount_fen), "fundChannel": "ALIPAYACCOUNT"}], separators=(",", ":")
        ),
        "passback_params": order.attach or "",
        **extra,
    }
    body = signed_form(world, fields)
    headers = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
    return Notification(
        notification_id=fields["notify_id"],
        channel=ALIPAY,
        order_key=order.key,
        kind=kind,
        event=status,
        url=order.notify_url or "",
        body=body,
        headers=headers,
        later_try=lambda: (signed_form(world, {**fields, "notify_time": alipay_time(time.time())}), dict(headers)),
    )


def _trade(world: World, app: AlipayApp, biz: dict[str, Any]) -> Order:
    trade_no = _optional_text(biz, "trade_no", pattern=TRADE_NO)
    out_trade_no = _optional_text(biz, "out_trade_no", pattern=OUT_TRADE_NO)
    if trade_no is None and out_trade_no is None:
        raise _invalid("out_trade_no和trade_no不能同时为空")
    if trade_no is not None:
        order = world.payments.find_by_trade_no(ALIPAY, app.seller_id, trade_no)
    else:
        order = world.payments.find((ALIPAY, app.seller_id, out_trade_no or ""))
    if order is None:
        raise AlipayError("40004", "ACQ.TRADE_NOT_EXIST", "交易不存在")
    return order


def _buyer(world: World, app: AlipayApp, biz: dict[str, Any]) -> tuple[AlipayUser, str | None]:
    open_id, user_id = biz.get("buyer_open_id"), biz.get("buyer_id")
    user: AlipayUser | None = None
    if isinstance(open_id, str) and open_id:
        user = world.alipay_people.find_by_open_id(app.app_id, open_id)
    elif isinstance(user_id, str) and user_id:
        user = world.alipay_people.find(user_id)
    else:
        raise _invalid("buyer_open_id和buyer_id不能同时为空")
    if user is None or app.app_id not in user.open_ids:
        raise _invalid("买家不存在或未授权该小程序")
    return user, user.open_ids.get(app.app_id)


def _expiry(biz: dict[str, Any]) -> tuple[float | None, str | None]:
    time_expire = _optional_text(biz, "time_expire", pattern=TIME_EXPIRE)
    timeout = _optional_text(biz, "timeout_express", pattern=TIMEOUT_EXPRESS)
    if time_expire is not None:
        try:
            at = datetime.strptime(time_expire, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING).timestamp()
        except ValueError:
            raise _invalid("time_expire格式不正确") from None
        return at, time_expire
    if timeout is not None:
        match = TIMEOUT_EXPRESS.fullmatch(timeout)
        assert match is not None  # checked by _optional_text
        return time.time() + int(match.group(1)) * _UNIT_SECONDS[match.group(2)], timeout
    return None, None


def _refundable(order: Order, amount: int) -> None:
    # Checked before an arranged failure, so a trade that cannot be refunded says why, as Alipay would.
    if order.state in (CLOSED, FINISHED):
        raise _refund_refusal(ORDER_CLOSED if order.state == CLOSED else ORDER_FINISHED)
    if order.state != PAID:
        raise _refund_refusal(NOT_PAID)
    if order.committed_fen + amount > order.amount_fen:
        raise _refund_refusal(OVER_REFUND)


def _refund_refusal(reason: str) -> AlipayError:
    return {
        ORDER_CLOSED: AlipayError("40004", "ACQ.TRADE_HAS_CLOSE", "交易已经关闭"),
        ORDER_FINISHED: AlipayError("40004", "ACQ.TRADE_HAS_FINISHED", "交易已经完结"),
        NOT_PAID: AlipayError("40004", "ACQ.TRADE_STATUS_ERROR", "交易状态不合法"),
        OVER_REFUND: AlipayError("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL", "退款金额超限"),
        TERMS_DIFFER: AlipayError("40004", "ACQ.INVALID_PARAMETER", "out_request_no已用于金额不同的退款"),
    }[reason]


def _invalid(message: str) -> AlipayError:
    return AlipayError("40004", "ACQ.INVALID_PARAMETER", message)


def _text(biz: dict[str, Any], key: str, *, pattern: re.Pattern[str] | None = None, limit: int = 64) -> str:
    value = _optional_text(biz, key, pattern=pattern, limit=limit)
    if value is None:
        raise _invalid(f"{key}不能为空")
    return value


def _optional_text(
    biz: dict[str, Any], key: str, *, pattern: re.Pattern[str] | None = None, limit: int = 64
) -> str | None:
    value = biz.get(key)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > limit or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise _invalid(f"{key}格式不正确")
    if pattern is not None and not pattern.fullmatch(value):
        raise _invalid(f"{key}格式不正确")
    return value


def _fen(biz: dict[str, Any], key: str) -> int:
    # A string with exactly two decimals: a float would reach Alipay as 12.3 or 0.30000000000000004.
    value = biz.get(key)
    if not isinstance(value, str) or not YUAN.fullmatch(value):
        raise _invalid(f"{key}必须是保留两位小数的金额字符串，如12.30")
    whole, cents = value.split(".")
    fen = int(whole) * 100 + int(cents)
    if not 0 < fen <= MAX_FEN:
        raise _invalid(f"{key}必须在0.01到100000000.00之间")
    return fen


def _trade_no() -> str:
    return datetime.now(BEIJING).strftime("%Y%m%d") + "22001" + "".join(str(secrets.randbelow(10)) for _ in range(15))


def _refund_id() -> str:
    return "R" + uuid.uuid4().hex[:24].upper()
