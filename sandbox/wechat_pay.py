"""WeChat Pay API v3 (api.mch.weixin.qq.com) for JSAPI and mini-program payments, and its notifications.

* POST /v3/pay/transactions/jsapi {appid, mchid, description, out_trade_no, time_expire?, attach?,
  notify_url, amount: {total, currency?}, payer: {openid}} -> 200 {prepay_id}. The same out_trade_no
  with the same content answers the same prepay_id; with other content 400 INVALID_REQUEST; once
  paid 403 ORDERPAID; once closed 400 ORDER_CLOSED.
* GET /v3/pay/transactions/out-trade-no/{out_trade_no}?mchid= and /v3/pay/transactions/id/{transaction_id}?mchid=
  -> the transaction (trade_state NOTPAY, SUCCESS, REFUND, CLOSED or PAYERROR); 404 ORDER_NOT_EXIST.
* POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close {mchid} -> 204; a paid order 403 ORDERPAID.
* POST /v3/refund/domestic/refunds {out_trade_no | transaction_id, out_refund_no, reason?, notify_url?,
  amount: {refund, total, currency}} -> 200 the refund, PROCESSING; it settles by itself after
  SandboxConfig.refund_settle_seconds (SUCCESS unless POST /_sandbox/refund-outcome arranged otherwise)
  and REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED goes to its notify_url. More than is left to
  refund: 403 NOT_ENOUGH. The same out_refund_no again answers the same refund.
* GET /v3/refund/domestic/refunds/{out_refund_no} -> the refund; 404 RESOURCE_NOT_EXISTS.

Amounts are integer fen, times RFC 3339 with +08:00. Signatures: sandbox/wechat_pay_wire.py.
"""

from __future__ import annotations

import re
import secrets
import time
import uuid
from datetime import datetime
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request

from sandbox.outbox import BEIJING
from sandbox.pay_keys import WeChatPayKeys
from sandbox.pay_notifications import Notification
from sandbox.payments import ABNORMAL
from sandbox.payments import CLOSED
from sandbox.payments import FAILED
from sandbox.payments import NOT_PAID
from sandbox.payments import OPEN
from sandbox.payments import ORDER_CLOSED
from sandbox.payments import ORDER_FINISHED
from sandbox.payments import ORDER_PAID
from sandbox.payments import OVER_REFUND
from sandbox.payments import PAID
from sandbox.payments import PROCESSING
from sandbox.payments import REFUND_CLOSED
from sandbox.payments import SUCCESS
from sandbox.payments import TERMS_DIFFER
from sandbox.payments import WECHAT_PAY
from sandbox.payments import Order
from sandbox.payments import OrderKey
from sandbox.payments import PaymentRefusal
from sandbox.payments import Refund
from sandbox.wechat_pay_wire import WeChatPayError
from sandbox.wechat_pay_wire import compact_json
from sandbox.wechat_pay_wire import encrypt_resource
from sandbox.wechat_pay_wire import param_error
from sandbox.wechat_pay_wire import request_json
from sandbox.wechat_pay_wire import serve
from sandbox.wechat_pay_wire import signature_headers
from sandbox.world import World

OUT_TRADE_NO = re.compile(r"[A-Za-z0-9_*|-]{6,32}")
OUT_REFUND_NO = re.compile(r"[A-Za-z0-9_*|@-]{1,64}")
TRANSACTION_ID = re.compile(r"[0-9]{1,32}")
WECHAT_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")
MCH_ID = re.compile(r"[0-9]{1,32}")
# RFC 3339 with seconds and a zone, as WeChat Pay writes and reads it: 2018-06-08T10:34:56+08:00.
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")
NOTIFY_URL = re.compile(r"https?://[A-Za-z0-9.:\[\]-]+(/[A-Za-z0-9._~%!$&'()*+,;=:@/-]*)?")
MAX_TOTAL_FEN = 10**10  # 100 million yuan

_TRADE_STATE_DESC = {
    "NOTPAY": "订单未支付",
    "SUCCESS": "支付成功",
    "REFUND": "转入退款",
    "CLOSED": "订单已关闭",
    "PAYERROR": "支付失败，请重新下单支付",
}
# refund status -> (event_type, summary) of its notification
_REFUND_EVENTS = {
    SUCCESS: ("REFUND.SUCCESS", "退款成功"),
    ABNORMAL: ("REFUND.ABNORMAL", "退款异常"),
    REFUND_CLOSED: ("REFUND.CLOSED", "退款关闭"),
}


def create_wechat_pay_blueprint(world: World) -> Blueprint:
    """The /v3/ routes of WeChat Pay."""
    bp = Blueprint("wechat_pay", __name__, url_prefix="/v3")

    @bp.post("/pay/transactions/jsapi")
    def jsapi() -> Response:
        return serve(world, "wechat_pay.order", lambda keys: place_order(world, keys))

    @bp.get("/pay/transactions/out-trade-no/<out_trade_no>")
    def query_by_out_trade_no(out_trade_no: str) -> Response:
        return serve(world, "wechat_pay.query", lambda keys: query_order(world, keys, out_trade_no=out_trade_no))

    @bp.get("/pay/transactions/id/<transaction_id>")
    def query_by_transaction_id(transaction_id: str) -> Response:
        return serve(world, "wechat_pay.query", lambda keys: query_order(world, keys, transaction_id=transaction_id))

    @bp.post("/pay/transactions/out-trade-no/<out_trade_no>/close")
    def close(out_trade_no: str) -> Response:
        return serve(world, "wechat_pay.close", lambda keys: close_order(world, keys, out_trade_no))

    @bp.post("/refund/domestic/refunds")
    def refund() -> Response:
        return serve(world, "wechat_pay.refund", lambda keys: ask_refund(world, keys))

    @bp.get("/refund/domestic/refunds/<out_refund_no>")
    def query_refund(out_refund_no: str) -> Response:
        return serve(world, "wechat_pay.refund", lambda keys: find_refund(world, keys, out_refund_no))

    return bp


def place_order(world: World, keys: WeChatPayKeys) -> tuple[int, dict[str, Any]]:
    """POST /v3/pay/transactions/jsapi: open the order (or answer the one already open) with its prepay_id."""
    body = request_json()
    appid = _text(body, "appid", 32, pattern=WECHAT_ID)
    _own_mch_id(keys, _text(body, "mchid", 32, pattern=MCH_ID), "body")
    merchant = world.config.wechat_pay_merchant(keys.mch_id)
    if merchant is None or appid not in merchant.app_ids:
        raise WeChatPayError(400, "APPID_MCHID_NOT_MATCH", "appid和mch_id不匹配，请确认appid和mch_id已绑定")
    description = _text(body, "description", 127)
    out_trade_no = _text(body, "out_trade_no", 32, pattern=OUT_TRADE_NO)
    time_expire = _optional_text(body, "time_expire", 64, pattern=RFC3339)
    attach = _optional_text(body, "attach", 128)
    notify_url = _text(body, "notify_url", 256, pattern=NOTIFY_URL)
    amount = _object(body, "amount")
    total = _fen(amount, "/amount/total", "total")
    _currency(amount, "/amount/currency", required=False)
    openid = _text(_object(body, "payer"), "openid", 128, pattern=WECHAT_ID, path="/payer/openid")
    if world.wechat_people.find(appid, openid) is None:
        raise WeChatPayError(400, "PARAM_ERROR", "appid和openid不匹配", {"location": "body", "field": "/payer/openid"})
    expires_at = _moment(time_expire, "/time_expire") if time_expire is not None else None
    now = time.time()
    if expires_at is not None and expires_at <= now:
        raise param_error("/time_expire", "订单失效时间不能早于当前时间")
    order = Order(
        channel=WECHAT_PAY,
        merchant=keys.mch_id,
        app_id=appid,
        out_trade_no=out_trade_no,
        amount_fen=total,
        payer=openid,
        subject=description,
        notify_url=notify_url,
        terms=(appid, description, total, openid, notify_url, attach, time_expire),
        created_at=now,
        expires_at=expires_at,
        prepay_id=_prepay_id(),
        attach=attach,
    )
    try:
        opened, _ = world.payments.open(order)
    except PaymentRefusal as refusal:
        raise _order_refusal(refusal.reason) from None
    return 200, {"prepay_id": opened.prepay_id}


def query_order(
    world: World, keys: WeChatPayKeys, *, out_trade_no: str | None = None, transaction_id: str | None = None
) -> tuple[int, dict[str, Any]]:
    """GET /v3/pay/transactions/...: the transaction as it stands."""
    _own_mch_id(keys, _text(request.args, "mchid", 32, pattern=MCH_ID, location="query"), "query")
    if out_trade_no is not None:
        _path_text(out_trade_no, "out_trade_no", OUT_TRADE_NO)
        order = world.payments.find((WECHAT_PAY, keys.mch_id, out_trade_no))
    else:
        _path_text(transaction_id or "", "transaction_id", TRANSACTION_ID)
        order = world.payments.find_by_trade_no(WECHAT_PAY, keys.mch_id, transaction_id or "")
    if order is None:
        raise WeChatPayError(404, "ORDER_NOT_EXIST", "订单不存在")
    return 200, transaction(order)


def close_order(world: World, keys: WeChatPayKeys, out_trade_no: str) -> tuple[int, None]:
    """POST /v3/pay/transactions/out-trade-no/{out_trade_no}/close: 204; closing a closed order again is fine."""
    _own_mch_id(keys, _text(request_json(), "mchid", 32, pattern=MCH_ID), "body")
    _path_text(out_trade_no, "out_trade_no", OUT_TRADE_NO)
    key = (WECHAT_PAY, keys.mch_id, out_trade_no)
    if world.payments.find(key) is None:
        raise WeChatPayError(404, "ORDER_NOT_EXIST", "订单不存在")
    try:
        world.payments.close(key)
    except PaymentRefusal as refusal:
        raise _order_refusal(refusal.reason) from None
    return 204, None


def ask_refund(world: World, keys: WeChatPayKeys) -> tuple[int, dict[str, Any]]:
    """POST /v3/refund/domestic/refunds: a refund, PROCESSING until it settles (or as it stands, if asked before)."""
    body = request_json()
    transaction_id = _optional_text(body, "transaction_id", 32, pattern=TRANSACTION_ID)
    out_trade_no = _optional_text(body, "out_trade_no", 32, pattern=OUT_TRADE_NO)
    if transaction_id is None and out_trade_no is None:
        raise param_error("/out_trade_no", "transaction_id和out_trade_no必须二选一")
    out_refund_no = _text(body, "out_refund_no", 64, pattern=OUT_REFUND_NO)
    reason = _optional_text(body, "reason", 80)
    notify_url = _optional_text(body, "notify_url", 256, pattern=NOTIFY_URL)
    amount = _object(body, "amount")
    refund_fen = _fen(amount, "/amount/refund", "refund")
    total = _fen(amount, "/amount/total", "total")
    _currency(amount, "/amount/currency", required=True)
    if transaction_id is not None:
        order = world.payments.find_by_trade_no(WECHAT_PAY, keys.mch_id, transaction_id)
    else:
        order = world.payments.find((WECHAT_PAY, keys.mch_id, out_trade_no or ""))
    if order is None:
        raise WeChatPayError(404, "RESOURCE_NOT_EXISTS", "订单不存在")
    if total != order.amount_fen:
        raise param_error("/amount/total", "原订单金额与订单实际金额不一致")
    try:
        _, refund, new = world.payments.start_refund(
            order.key,
            out_refund_no,
            refund_fen,
            _refund_id,
            notify_url=notify_url,
            reason=reason,
            unique_per_merchant=True,
        )
    except PaymentRefusal as refusal:
        raise _refund_refusal(refusal.reason) from None
    if new and refund.arranged != PROCESSING:
        key = order.key
        world.pay_clock.later(
            world.config.refund_settle_seconds, lambda: settle_refund(world, key, refund.out_refund_no)
        )
    return 200, refund_view(order, refund)


def find_refund(world: World, keys: WeChatPayKeys, out_refund_no: str) -> tuple[int, dict[str, Any]]:
    """GET /v3/refund/domestic/refunds/{out_refund_no}: the refund as it stands."""
    _path_text(out_refund_no, "out_refund_no", OUT_REFUND_NO)
    order = world.payments.order_with_refund(WECHAT_PAY, keys.mch_id, out_refund_no)
    refund = order.refund(out_refund_no) if order is not None else None
    if order is None or refund is None:
        raise WeChatPayError(404, "RESOURCE_NOT_EXISTS", "退款单不存在")
    return 200, refund_view(order, refund)


def settle_refund(world: World, key: OrderKey, out_refund_no: str, outcome: str | None = None) -> Refund | None:
    """End a PROCESSING refund (as arranged, or with outcome) and notify its end; None if it did not end."""
    settled = world.payments.settle_refund(key, out_refund_no, outcome)
    if settled is None:
        return None
    order, refund = settled
    if refund.notify_url is not None:
        world.notifier.send(refund_notification(world, order, refund))
    return refund


def pay(world: World, key: OrderKey, succeeded: bool) -> tuple[Order, Notification | None]:
    """The payer pays (or fails to); on success, the TRANSACTION.SUCCESS notification to send."""
    order = world.payments.pay(key, succeeded, _transaction_id)
    if order.state != PAID or order.notify_url is None:
        return order, None
    resource = compact_json(transaction(order))
    return order, _notification(world, order, "payment", "TRANSACTION.SUCCESS", "支付成功", "transaction", resource)


def refund_notification(world: World, order: Order, refund: Refund) -> Notification:
    """REFUND.SUCCESS, REFUND.ABNORMAL or REFUND.CLOSED for a refund that has ended."""
    event, summary = _REFUND_EVENTS[refund.status]
    resource: dict[str, Any] = {
        "mchid": order.merchant,
        "out_trade_no": order.out_trade_no,
        "transaction_id": order.trade_no,
        "out_refund_no": refund.out_refund_no,
        "refund_id": refund.refund_id,
        "refund_status": refund.status.upper(),
    }
    if refund.status == SUCCESS and refund.settled_at is not None:
        resource["success_time"] = rfc3339(refund.settled_at)
    resource["user_received_account"] = "支付用户零钱"
    resource["amount"] = {
        "total": order.amount_fen,
        "refund": refund.amount_fen,
        "payer_total": order.amount_fen,
        "payer_refund": refund.amount_fen,
    }
    url = refund.notify_url or ""
    return _notification(world, order, "refund", event, summary, "refund", compact_json(resource), url)


def trade_state(order: Order) -> str:
    """The order's trade_state: NOTPAY, SUCCESS, REFUND, CLOSED or PAYERROR."""
    if order.state == PAID:
        return "REFUND" if any(r.status != REFUND_CLOSED for r in order.refunds) else "SUCCESS"
    return {OPEN: "NOTPAY", FAILED: "PAYERROR", CLOSED: "CLOSED"}[order.state]


def transaction(order: Order) -> dict[str, Any]:
    """The transaction as the query API and the payment notification show it."""
    state = trade_state(order)
    view: dict[str, Any] = {"appid": order.app_id, "mchid": order.merchant, "out_trade_no": order.out_trade_no}
    paid = order.state == PAID and order.paid_at is not None
    if paid:
        view["transaction_id"] = order.trade_no
    view["trade_type"] = "JSAPI"
    view["trade_state"] = state
    view["trade_state_desc"] = _TRADE_STATE_DESC[state]
    view["attach"] = order.attach or ""
    if paid and order.paid_at is not None:
        view["bank_type"] = "OTHERS"
        view["success_time"] = rfc3339(order.paid_at)
        view["payer"] = {"openid": order.payer}
        view["amount"] = {
            "total": order.amount_fen,
            "payer_total": order.amount_fen,
            "currency": "CNY",
            "payer_currency": "CNY",
        }
    else:
        view["payer"] = {}
        view["amount"] = {"total": order.amount_fen, "currency": "CNY", "payer_currency": "CNY"}
    view["promotion_detail"] = []
    return view


def refund_view(order: Order, refund: Refund) -> dict[str, Any]:
    """A refund as the refund APIs answer it."""
    view: dict[str, Any] = {
        "refund_id": refund.refund_id,
        "out_refund_no": refund.out_refund_no,
        "transaction_id": order.trade_no,
        "out_trade_no": order.out_trade_no,
        "channel": "ORIGINAL",
        "user_received_account": "支付用户零钱",
    }
    if refund.status == SUCCESS and refund.settled_at is not None:
        view["success_time"] = rfc3339(refund.settled_at)
    view["create_time"] = rfc3339(refund.created_at)
    view["status"] = refund.status.upper()
    view["funds_account"] = "AVAILABLE"
    view["amount"] = {
        "total": order.amount_fen,
        "refund": refund.amount_fen,
        "from": [],
        "payer_total": order.amount_fen,
        "payer_refund": refund.amount_fen,
        "settlement_refund": refund.amount_fen,
        "settlement_total": order.amount_fen,
        "discount_refund": 0,
        "currency": "CNY",
        "refund_fee": 0,
    }
    view["promotion_detail"] = []
    return view


def rfc3339(at: float) -> str:
    """Unix seconds as WeChat Pay writes times: 2018-06-08T10:34:56+08:00."""
    return datetime.fromtimestamp(at, BEIJING).isoformat(timespec="seconds")


def _notification(
    world: World,
    order: Order,
    kind: str,
    event: str,
    summary: str,
    original_type: str,
    resource: bytes,
    url: str | None = None,
) -> Notification:
    keys = world.wechat_pay_keys[order.merchant]
    envelope = {
        "id": str(uuid.uuid4()),
        "create_time": rfc3339(time.time()),
        "resource_type": "encrypt-resource",
        "event_type": event,
        "summary": summary,
        "resource": encrypt_resource(keys.apiv3_key, original_type, resource),
    }
    body = compact_json(envelope)

    def headers() -> dict[str, str]:
        return {"Content-Type": "application/json", **signature_headers(keys, body)}

    return Notification(
        notification_id=str(envelope["id"]),
        channel=WECHAT_PAY,
        order_key=order.key,
        kind=kind,
        event=event,
        url=url or order.notify_url or "",
        body=body,
        headers=headers(),
        later_try=lambda: (body, headers()),
    )


def _order_refusal(reason: str) -> WeChatPayError:
    return {
        ORDER_PAID: WeChatPayError(403, "ORDERPAID", "该订单已支付"),
        ORDER_FINISHED: WeChatPayError(403, "ORDERPAID", "该订单已支付"),
        ORDER_CLOSED: WeChatPayError(400, "ORDER_CLOSED", "订单已关闭"),
        TERMS_DIFFER: WeChatPayError(400, "INVALID_REQUEST", "商户订单号重复，且与首次下单的参数不一致"),
    }[reason]


def _refund_refusal(reason: str) -> WeChatPayError:
    return {
        TERMS_DIFFER: WeChatPayError(400, "INVALID_REQUEST", "商户退款单号已用于其他退款，请求参数与首次请求不一致"),
        ORDER_CLOSED: WeChatPayError(400, "INVALID_REQUEST", "订单已关闭，不能退款"),
        ORDER_FINISHED: WeChatPayError(400, "INVALID_REQUEST", "订单已超过退款期限"),
        NOT_PAID: WeChatPayError(400, "INVALID_REQUEST", "订单未支付，不能退款"),
        OVER_REFUND: WeChatPayError(403, "NOT_ENOUGH", "申请退款金额超过订单可退金额"),
    }[reason]


def _own_mch_id(keys: WeChatPayKeys, mch_id: str, location: str) -> None:
    if mch_id != keys.mch_id:
        raise WeChatPayError(400, "PARAM_ERROR", "mchid与签名的商户号不一致", {"location": location, "field": "/mchid"})


def _text(
    fields: Any,
    key: str,
    limit: int,
    *,
    pattern: re.Pattern[str] | None = None,
    path: str | None = None,
    location: str = "body",
) -> str:
    value = _optional_text(fields, key, limit, pattern=pattern, path=path, location=location)
    if value is None:
        raise param_error(path or f"/{key}", "此字段为必填项", location)
    return value


def _optional_text(
    fields: Any,
    key: str,
    limit: int,
    *,
    pattern: re.Pattern[str] | None = None,
    path: str | None = None,
    location: str = "body",
) -> str | None:
    field = path or f"/{key}"
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > limit:
        raise param_error(field, f"应为1到{limit}个字符的字符串", location)
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        raise param_error(field, "含有控制字符", location)
    if pattern is not None and not pattern.fullmatch(value):
        raise param_error(field, "格式不正确", location)
    return value


def _path_text(value: str, name: str, pattern: re.Pattern[str]) -> None:
    if not pattern.fullmatch(value):
        raise param_error(f"/{name}", "格式不正确", "uri_template")


def _object(body: dict[str, Any], key: str) -> dict[str, Any]:
    value = body.get(key)
    if not isinstance(value, dict):
        raise param_error(f"/{key}", "此字段为必填项，应为JSON对象")
    return value


def _fen(amount: dict[str, Any], field: str, key: str) -> int:
    value = amount.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not 0 < value <= MAX_TOTAL_FEN:
        raise param_error(field, "应为大于0的整数（单位：分）")
    return value


def _currency(amount: dict[str, Any], field: str, *, required: bool) -> None:
    value = amount.get("currency")
    if (value is None and required) or (value is not None and value != "CNY"):
        raise param_error(field, "币种仅支持CNY")


def _moment(value: str, field: str) -> float:
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise param_error(field, "不是合法的RFC 3339时间") from None


def _digits(count: int) -> str:
    return "".join(str(secrets.randbelow(10)) for _ in range(count))


def _beijing_day() -> str:
    return datetime.now(BEIJING).strftime("%Y%m%d")


def _prepay_id() -> str:
    return "wx" + datetime.now(BEIJING).strftime("%Y%m%d%H%M%S") + secrets.token_hex(10)


def _transaction_id() -> str:
    return "4200" + _digits(6) + _beijing_day() + _digits(10)


def _refund_id() -> str:
    return "503" + _beijing_day() + _digits(18)
