"""WeChat Pay API v3 through wechatpayv3 in public-key mode: mini-program (JSAPI) orders, refunds, notifications.

New merchants have no platform certificates, only the "WeChat Pay public key" and its id, so the
SDK is built in public-key mode: it then never downloads certificates, and its gateway can be
pointed elsewhere after construction (the private `_core._gate_way`, set here and nowhere else).
Amounts are integer fen on both sides; times are RFC 3339 in Beijing time.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
import time
import zlib
from collections.abc import Callable
from collections.abc import Mapping
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from wechatpayv3 import WeChatPay
from wechatpayv3 import WeChatPayType

from billing.gateway import CLOSED
from billing.gateway import FAILED
from billing.gateway import PAID
from billing.gateway import PAYMENT_NOTICE
from billing.gateway import REFUND_FAILED
from billing.gateway import REFUND_NOTICE
from billing.gateway import REFUND_PROCESSING
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import REFUNDED
from billing.gateway import UNPAID
from billing.gateway import Acknowledgement
from billing.gateway import BillNotReady
from billing.gateway import BillRefused
from billing.gateway import ChannelPayment
from billing.gateway import ChannelRefund
from billing.gateway import Checkout
from billing.gateway import DayBill
from billing.gateway import Notice
from billing.gateway import NotificationRefused
from billing.gateway import Order
from billing.gateway import RefundOrder
from channels.calls import PAYMENT_UNAVAILABLE
from channels.calls import PaymentCalls
from channels.calls import answer_fields
from channels.calls import log
from channels.calls import payment_unavailable
from channels.calls import security_log
from channels.calls import unreadable_answer
from channels.times import read_rfc3339
from channels.times import rfc3339
from channels.wechat.errors import from_wechat_pay
from config.merchants import MerchantProblem
from config.merchants import WeChatPayMerchant
from errors import DomainError

SIGNATURE_TYPE = "WECHATPAY2-SHA256-RSA2048"
# The headers a notification is signed with, as wechatpayv3 reads them.
SIGNED_HEADERS = (
    "Wechatpay-Signature",
    "Wechatpay-Timestamp",
    "Wechatpay-Nonce",
    "Wechatpay-Serial",
    "Wechatpay-Signature-Type",
)
# WeChat's trade_state -> what the channel says of the order.
TRADE_STATES = {
    "SUCCESS": PAID,
    "REFUND": REFUNDED,
    "NOTPAY": UNPAID,
    "USERPAYING": UNPAID,
    "CLOSED": CLOSED,
    "REVOKED": CLOSED,
    "PAYERROR": FAILED,
}
# trade_state in a TRANSACTION.* notification -> the payment notice's state.
NOTICE_STATES = {"SUCCESS": PAID, "PAYERROR": FAILED, "CLOSED": CLOSED, "REVOKED": CLOSED}
# A refund's status (the refund APIs' `status`, a notification's `refund_status`) -> ours.
# ABNORMAL: the money could not reach the payer's account yet; the merchant may still send it on
# (WeChat's abnormal-refund handling), after which it succeeds: it keeps holding its amount meanwhile.
REFUND_STATES = {
    "PROCESSING": REFUND_PROCESSING,
    "SUCCESS": REFUND_SUCCEEDED,
    "CLOSED": REFUND_FAILED,
    "ABNORMAL": REFUND_PROCESSING,
}
# Applied with fullmatch. What WeChat accepts as an order number (a notification's is checked before use).
_ORDER_NUMBER = re.compile(r"[A-Za-z0-9_*-]{6,32}")
_UNIX_SECONDS = re.compile(r"[0-9]{1,12}")
DESCRIPTION_LIMIT, REASON_LIMIT = 127, 80
# What WeChat Pay answers for a bill it has not made: none yet for a day without money, or one in the making.
BILL_NOT_MADE = frozenset({"NO_STATEMENT_EXIST", "STATEMENT_CREATING"})
# gzip's framing around deflate, for zlib; bills are decompressed this many bytes at a time.
GZIP_WBITS, CHUNK = 16 + zlib.MAX_WBITS, 64 * 1024


def make_wechat_pay(merchant: WeChatPayMerchant, *, base_url: str, timeout: float) -> Any:
    """wechatpayv3 for one merchant, pointed at base_url; MerchantProblem for a key it cannot load."""
    try:
        client = WeChatPay(
            wechatpay_type=WeChatPayType.MINIPROG,
            mchid=merchant.mch_id,
            private_key=merchant.merchant_private_key,
            cert_serial_no=merchant.merchant_serial,
            # Each order names its own app; this one is only the SDK's default.
            appid=merchant.app_ids[0],
            apiv3_key=merchant.apiv3_key,
            public_key=merchant.wechatpay_public_key,
            public_key_id=merchant.wechatpay_public_key_id,
            timeout=(timeout, timeout),
        )
    except Exception as error:  # the SDK raises bare Exception for a key it cannot load
        raise MerchantProblem(f"wechat_pay merchant {merchant.mch_id}: a key could not be loaded") from error
    client._core._gate_way = base_url.rstrip("/")
    return client


class WeChatPayGateway:
    """One WeChat Pay merchant, for every WeChat app it collects for."""

    name = "wechat_pay_v3"
    channel = "wechat"

    def __init__(self, client: Any, merchant: WeChatPayMerchant, calls: PaymentCalls) -> None:
        self.client = client
        self.merchant_id = merchant.mch_id
        self.public_key_id = merchant.wechatpay_public_key_id
        self.calls = calls

    def create(self, order: Order) -> Checkout:
        """A JSAPI order (the same number and content answer the same prepay_id), then wx.requestPayment's params."""

        def attempt() -> dict[str, Any]:
            return self._answer(
                "order",
                lambda: self.client.pay(
                    description=order.description[:DESCRIPTION_LIMIT],
                    out_trade_no=order.out_trade_no,
                    amount={"total": order.amount_fen, "currency": "CNY"},
                    payer={"openid": order.payer},
                    time_expire=rfc3339(order.expires_at),
                    notify_url=order.notify_url,
                    appid=order.app_id,
                ),
                "prepay_id",
            )

        prepay_id = self.calls.write("order", attempt)["prepay_id"]
        if not isinstance(prepay_id, str):
            raise unreadable_answer("wechat_pay", "order", None, PAYMENT_UNAVAILABLE)
        package, timestamp, nonce = f"prepay_id={prepay_id}", str(int(time.time())), secrets.token_hex(16)
        # paySign: RSA-SHA256 with the merchant key over appId, timeStamp, nonceStr and package, one a line.
        pay_sign = str(self.client.sign([order.app_id, timestamp, nonce, package]))
        params = {"timeStamp": timestamp, "nonceStr": nonce, "package": package, "signType": "RSA", "paySign": pay_sign}
        return Checkout(prepay_id, params)

    def query(self, out_trade_no: str) -> ChannelPayment:
        """The order as WeChat Pay holds it."""
        answer = self._transaction(out_trade_no)
        state = TRADE_STATES.get(answer["trade_state"])
        total = _whole_fen(answer["amount"].get("total") if isinstance(answer["amount"], dict) else None)
        if state is None or total is None or answer.get("out_trade_no") != out_trade_no:
            raise unreadable_answer("wechat_pay", "query", answer, PAYMENT_UNAVAILABLE)
        return ChannelPayment(
            out_trade_no,
            state,
            total,
            _optional_text(answer, "transaction_id"),
            read_rfc3339(answer.get("success_time")),
        )

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order (204); closing a closed one again is fine, a paid one is billing.order_paid."""
        self.calls.write("close", lambda: self._answer("close", lambda: self.client.close(out_trade_no)))

    def refund(self, order: RefundOrder) -> ChannelRefund:
        """Ask for a refund; the same out_refund_no again answers the same refund as it stands."""

        def attempt() -> dict[str, Any]:
            return self._answer(
                "refund",
                lambda: self.client.refund(
                    out_refund_no=order.out_refund_no,
                    amount={"refund": order.amount_fen, "total": order.total_fen, "currency": "CNY"},
                    out_trade_no=order.out_trade_no,
                    reason=order.reason[:REASON_LIMIT] or None,
                    notify_url=order.notify_url,
                ),
                "status",
                "out_refund_no",
            )

        return self._refund_of(order.out_trade_no, order.out_refund_no, self.calls.write("refund", attempt))

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        """The refund as WeChat Pay holds it."""

        def attempt() -> dict[str, Any]:
            return self._answer(
                "query_refund", lambda: self.client.query_refund(out_refund_no), "status", "out_refund_no"
            )

        return self._refund_of(out_trade_no, out_refund_no, self.calls.read("query_refund", attempt))

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the signature over the raw body with the WeChat Pay public key, decrypt it, and read it."""
        signed = {name: _header(headers, name) for name in SIGNED_HEADERS}
        if not all(signed.values()):
            raise NotificationRefused("unsigned")
        if signed["Wechatpay-Signature-Type"] != SIGNATURE_TYPE:
            raise NotificationRefused("bad_signature")
        if signed["Wechatpay-Serial"] != self.public_key_id:
            # wechatpayv3 would look another serial up among platform certificates, which a
            # public-key merchant has none of, by calling WeChat Pay from inside this request.
            raise NotificationRefused("unknown_key")
        if not _UNIX_SECONDS.fullmatch(signed["Wechatpay-Timestamp"]):
            raise NotificationRefused("garbled")
        try:
            envelope = self.client.callback(signed, body.decode("utf-8"))
        except Exception as error:  # the SDK raises what json.loads and its own checks raise
            security_log.warning("wechat pay notification unreadable", extra={"error": type(error).__name__})
            raise NotificationRefused("garbled") from error
        if envelope is None:
            # The SDK answers None for a signature that fails, a resource that is not encrypted, or a
            # resource that the APIv3 key does not open: none of them is WeChat Pay's notification.
            raise NotificationRefused("bad_signature")
        event = envelope.get("event_type") if isinstance(envelope, dict) else None
        reader = self._notice_readers().get(str(event).partition(".")[0])
        if reader is None:
            raise NotificationRefused("unknown_event")
        resource, event_id = envelope.get("resource"), envelope.get("id")
        if not isinstance(resource, dict) or not isinstance(event_id, str) or not event_id:
            raise NotificationRefused("garbled")
        timestamp, nonce = signed["Wechatpay-Timestamp"], signed["Wechatpay-Nonce"]
        delivery = {
            "event_id": event_id,
            # Every try is signed afresh: its nonce and time make it one delivery, seen once.
            "delivery": f"{nonce}:{timestamp}",
            "sent_at": datetime.fromtimestamp(int(timestamp), UTC),
        }
        return reader(resource, delivery)

    def acknowledgement(self, received: bool) -> Acknowledgement:
        """204 once received; otherwise a 5xx with WeChat's FAIL body, which it sends again (the status decides)."""
        if received:
            return Acknowledgement(204, b"", "text/plain")
        body = json.dumps({"code": "FAIL", "message": "失败"}, ensure_ascii=False).encode("utf-8")
        return Acknowledgement(500, body, "application/json")

    def bill(self, day: date, folder: Path) -> DayBill:
        """The day's ALL trade bill, gunzipped into folder and checked against the SHA1 WeChat Pay announced."""
        applied = self.calls.read("bill", lambda: self._bill_answer(day))
        if applied is None:
            raise BillNotReady(day.isoformat())
        if str(applied["hash_type"]).upper() != "SHA1":
            raise BillRefused("unknown hash type")

        def download() -> Any:
            # The file is not signed (WeChat signs no download): the SDK skips verifying it, the hash stands in.
            status, body = self._reply("bill_download", lambda: self.client.download_bill(applied["download_url"]))
            if status != 200 or not isinstance(body, bytes):
                raise from_wechat_pay(
                    "bill_download", status if isinstance(status, int) else 0, _json(body).get("code")
                )
            return body

        path = folder / f"wechat_{self.merchant_id}_{day.isoformat()}_ALL.csv"
        sha1 = _gunzip(self.calls.read("bill_download", download), path)
        if not hmac.compare_digest(sha1, str(applied["hash_value"]).lower()):
            path.unlink()
            raise BillRefused("hash mismatch")
        return DayBill(self.channel, self.merchant_id, day, path, sha1)

    def _bill_answer(self, day: date) -> dict[str, Any] | None:
        """申请交易账单: where to download the day's bill and its hash, or None for a bill not made yet."""
        status, body = self._reply(
            "bill", lambda: self.client.trade_bill(bill_date=day.isoformat(), bill_type="ALL", tar_type="GZIP")
        )
        code = _json(body).get("code")
        if status == 400 and code in BILL_NOT_MADE:
            return None
        if not isinstance(status, int) or not 200 <= status < 300:
            raise from_wechat_pay("bill", status if isinstance(status, int) else 0, code)
        return answer_fields("wechat_pay", "bill", _json(body), "hash_type", "hash_value", "download_url")

    def _notice_readers(self) -> dict[str, Callable[[dict[str, Any], dict[str, Any]], Notice]]:
        # event_type's first part -> how its resource reads.
        return {"TRANSACTION": self._payment_notice, "REFUND": self._refund_notice}

    def _payment_notice(self, resource: dict[str, Any], delivery: dict[str, Any]) -> Notice:
        state = NOTICE_STATES.get(str(resource.get("trade_state")))
        amount = resource.get("amount")
        if state is None or not isinstance(amount, dict):
            raise NotificationRefused("garbled")
        return Notice(
            kind=PAYMENT_NOTICE,
            app_id=_text(resource, "appid"),
            merchant_id=_text(resource, "mchid"),
            out_trade_no=_text(resource, "out_trade_no"),
            amount_fen=_notice_fen(amount, "total"),
            currency=_text(amount, "currency"),
            state=state,
            channel_trade_no=_optional_text(resource, "transaction_id"),
            at=read_rfc3339(resource.get("success_time")),
            **delivery,
        )

    def _refund_notice(self, resource: dict[str, Any], delivery: dict[str, Any]) -> Notice:
        state = REFUND_STATES.get(str(resource.get("refund_status")))
        amount = resource.get("amount")
        out_trade_no = _text(resource, "out_trade_no")
        if state not in (REFUND_SUCCEEDED, REFUND_FAILED) or not isinstance(amount, dict):
            raise NotificationRefused("garbled")
        if not _ORDER_NUMBER.fullmatch(out_trade_no):
            raise NotificationRefused("garbled")
        total, refund_fen = _notice_fen(amount, "total"), _notice_fen(amount, "refund")
        return Notice(
            kind=REFUND_NOTICE,
            # A refund's resource names no app: the order's own record at WeChat Pay does.
            app_id=self._app_of(out_trade_no),
            merchant_id=_text(resource, "mchid"),
            out_trade_no=out_trade_no,
            amount_fen=total,
            # The domestic refund API moves CNY only, and its resource carries no currency.
            currency="CNY",
            state=state,
            channel_trade_no=_optional_text(resource, "transaction_id"),
            at=read_rfc3339(resource.get("success_time")),
            out_refund_no=_text(resource, "out_refund_no"),
            refund_fen=refund_fen,
            channel_refund_id=_optional_text(resource, "refund_id"),
            **delivery,
        )

    def _app_of(self, out_trade_no: str) -> str:
        """The app an order was placed for, as WeChat Pay holds it; a notification that cannot be checked waits."""
        try:
            appid = self._transaction(out_trade_no).get("appid")
        except DomainError as failure:
            log.warning("a refund notification's order could not be read now", extra={"code": failure.code})
            raise NotificationRefused("unconfirmed") from failure
        if not isinstance(appid, str) or not appid:
            raise NotificationRefused("unconfirmed")
        return appid

    def _transaction(self, out_trade_no: str) -> dict[str, Any]:
        def attempt() -> dict[str, Any]:
            return self._answer("query", lambda: self.client.query(out_trade_no=out_trade_no), "trade_state", "amount")

        return self.calls.read("query", attempt)

    def _refund_of(self, out_trade_no: str, out_refund_no: str, answer: dict[str, Any]) -> ChannelRefund:
        state = REFUND_STATES.get(answer["status"])
        if state is None or answer["out_refund_no"] != out_refund_no or answer.get("out_trade_no") != out_trade_no:
            raise unreadable_answer("wechat_pay", "refund", answer, PAYMENT_UNAVAILABLE)
        return ChannelRefund(
            out_refund_no, state, _optional_text(answer, "refund_id"), read_rfc3339(answer.get("success_time"))
        )

    def _answer(self, operation: str, call: Callable[[], Any], *required: str) -> dict[str, Any]:
        """One SDK call: a 2xx answer's JSON holding the required fields, or our error."""
        status, body = self._reply(operation, call)
        if not isinstance(status, int) or not 200 <= status < 300:
            raise from_wechat_pay(operation, status if isinstance(status, int) else 0, _json(body).get("code"))
        if not required:
            return {}
        return answer_fields("wechat_pay", operation, _json(body), *required, code=PAYMENT_UNAVAILABLE)

    def _reply(self, operation: str, call: Callable[[], Any]) -> tuple[Any, Any]:
        """One SDK call's status and body, whatever the status; our error when no trustworthy answer came."""
        try:
            status, body = call()
        except requests.RequestException:
            raise  # no answer came: outbound names it an outage
        except Exception as error:
            # wechatpayv3 raises bare Exception for an answer whose signature fails or whose
            # Wechatpay-Signature-Type it does not know, and ValueError for a serial that is not hex.
            security_log.warning(
                "wechatpayv3 refused a call or its answer",
                extra={"operation": operation, "error": type(error).__name__},
            )
            raise payment_unavailable("WeChat Pay's answer could not be trusted.") from error
        return status, body


def _gunzip(packed: bytes, path: Path) -> str:
    """Gunzip a body into path a chunk at a time; the SHA1 hex of what was written, or BillRefused."""
    inflate, sha1, view = zlib.decompressobj(GZIP_WBITS), hashlib.sha1(), memoryview(packed)
    try:
        with path.open("wb") as file:
            for start in range(0, len(view), CHUNK):
                pending: bytes | memoryview = view[start : start + CHUNK]
                while pending:
                    # At most CHUNK bytes out per step: a small body that inflates hugely never sits in memory.
                    piece = inflate.decompress(pending, CHUNK)
                    sha1.update(piece)
                    file.write(piece)
                    pending = inflate.unconsumed_tail
            rest = inflate.flush()  # what zlib still holds once every byte went in
            sha1.update(rest)
            file.write(rest)
        if not inflate.eof or inflate.unused_data:
            raise zlib.error("the gzip stream stops short or carries something after it")
    except zlib.error as error:
        path.unlink(missing_ok=True)
        raise BillRefused("archive unreadable") from error
    return sha1.hexdigest()


def _header(headers: Mapping[str, str], name: str) -> str:
    """A header's value whatever the spelling of its name (Flask's headers ignore case; a plain dict does not)."""
    value = headers.get(name)
    if value is None:
        value = next((v for k, v in headers.items() if k.lower() == name.lower()), None)
    return value if isinstance(value, str) else ""


def _json(body: object) -> dict[str, Any]:
    """An answer body as a JSON object; empty for anything else (the caller's checks then refuse it)."""
    try:
        value = json.loads(body) if isinstance(body, str | bytes) and body else None
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _whole_fen(value: object) -> int | None:
    """A WeChat amount: a whole number of fen (JSON's true is not 1 fen), else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def _notice_fen(fields: dict[str, Any], name: str) -> int:
    fen = _whole_fen(fields.get(name))
    if fen is None:
        raise NotificationRefused("garbled")
    return fen


def _optional_text(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    return value if isinstance(value, str) and value else None


def _text(fields: dict[str, Any], name: str) -> str:
    value = fields.get(name)
    if not isinstance(value, str) or not value:
        raise NotificationRefused("garbled")
    return value
