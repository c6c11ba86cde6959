"""Alipay's trade API through python-alipay-sdk: mini-program (JSAPI_PAY) trades, refunds, notifications.

Amounts cross as yuan strings with two decimals, made from and read back into integer fen exactly.
Signed business failures come back as answers, not exceptions (code 10000 is success); a refund
moved money only when fund_change is "Y".

A refund notification carries `refund_fee`, everything refunded on the trade so far, not this
refund's amount, and nothing in it tells the earlier refunds apart. Billing must compare the
notice with the refund it names (`out_biz_no`, our out_refund_no), so that refund's own amount
is asked of Alipay (alipay.trade.fastpay.refund.query, a signed answer); a notification whose
refund cannot be confirmed now is not acknowledged, and Alipay sends it again.

A day's bill is a zip behind a URL the signed bill query answers: fetched with a plain GET (Alipay does
not sign it), its detail file (业务明细) and summary file (业务明细(汇总)) are taken out to disk.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import zipfile
import zlib
from collections.abc import Mapping
from datetime import date
from pathlib import Path
from typing import IO
from typing import Any
from urllib.parse import parse_qsl

import requests

from billing.gateway import CLOSED
from billing.gateway import PAID
from billing.gateway import PAYMENT_NOTICE
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
from channels.alipay.amounts import fen_of
from channels.alipay.amounts import yuan
from channels.alipay.errors import BUSINESS_FAILED
from channels.alipay.errors import SDK_FAILURES
from channels.alipay.errors import from_alipay_sdk
from channels.alipay.errors import from_alipay_trade
from channels.calls import PAYMENT_UNAVAILABLE
from channels.calls import PaymentCalls
from channels.calls import answer_fields
from channels.calls import log
from channels.calls import payment_unavailable
from channels.calls import security_log
from channels.calls import unreadable_answer
from channels.payment_refusals import order_paid
from channels.payment_refusals import refund_not_found
from channels.times import alipay_time
from channels.times import read_alipay_time
from config.merchants import AlipayMerchant
from errors import DomainError
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.http import http_session

SUCCESS = "10000"
# Applied with fullmatch: an Alipay user id; anything else a payer is known by is an open_id.
_USER_ID = re.compile(r"2088[0-9]{12}")
# Alipay refuses a subject holding these.
_SUBJECT_SAFE = str.maketrans("/=&", "   ")
SUBJECT_LIMIT, REASON_LIMIT = 256, 256
# A notification's trade_status -> the payment notice's state (a refund's notice is told by out_biz_no).
NOTICE_STATES = {"TRADE_SUCCESS": PAID, "TRADE_FINISHED": PAID, "TRADE_CLOSED": CLOSED}
BILL_URL = "data.dataservice.bill.downloadurl.query"
# 40004 sub_codes of a bill not made yet: none for a day without money, and what Alipay answers a bill
# asked for too early (before about 10:00 the next day): invalid arguments, as for a date in the future.
BILL_NOT_MADE = frozenset({"isp.bill_not_exist", "BILL_NOT_EXIST", "NO_BILL_DATA", "isv.invalid_arguments"})
# The zip's two files, by how their (GBK) names end: <account>_<yyyymmdd>_业务明细.csv and its summary.
DETAIL_FILE, SUMMARY_FILE = "_业务明细.csv", "_业务明细(汇总).csv"
CHUNK = 64 * 1024


class AlipayPayGateway:
    """One Alipay app's trades, paid into its seller's account."""

    name = "alipay_trade"
    channel = "alipay"

    def __init__(
        self, client: Any, merchant: AlipayMerchant, calls: PaymentCalls, http: requests.Session | None = None
    ) -> None:
        self.client = client
        # Bill files come from a URL of their own, fetched without the SDK.
        self.http = http or http_session(1)
        # Notifications reach /callbacks/alipay/<app_id>: the app is the merchant we know them by.
        self.merchant_id = merchant.app_id
        self.seller_id = merchant.seller_id
        self.calls = calls

    def create(self, order: Order) -> Checkout:
        """alipay.trade.create (the same number and content answer the same trade_no); my.tradePay takes tradeNO."""
        buyer = "buyer_id" if _USER_ID.fullmatch(order.payer) else "buyer_open_id"
        biz = {
            "out_trade_no": order.out_trade_no,
            "total_amount": yuan(order.amount_fen),
            "subject": order.description.translate(_SUBJECT_SAFE)[:SUBJECT_LIMIT],
            "product_code": "JSAPI_PAY",
            buyer: order.payer,
            "op_app_id": order.app_id,
            "time_expire": alipay_time(order.expires_at),
        }
        answer = self.calls.write(
            "trade.create", lambda: self._answer("trade.create", biz, "trade_no", notify_url=order.notify_url)
        )
        trade_no = str(answer["trade_no"])
        return Checkout(trade_no, {"tradeNO": trade_no})

    def query(self, out_trade_no: str) -> ChannelPayment:
        """alipay.trade.query: the trade as Alipay holds it."""
        answer = self.calls.read(
            "trade.query", lambda: self._answer("trade.query", {"out_trade_no": out_trade_no}, "trade_status")
        )
        paid_at = read_alipay_time(answer.get("send_pay_date"))
        # TRADE_CLOSED is a trade closed unpaid, or one refunded in full: only the latter was paid.
        states = {
            "WAIT_BUYER_PAY": UNPAID,
            "TRADE_SUCCESS": PAID,
            "TRADE_FINISHED": PAID,
            "TRADE_CLOSED": CLOSED if paid_at is None else REFUNDED,
        }
        state, total = states.get(answer["trade_status"]), fen_of(answer.get("total_amount"))
        if state is None or total is None or answer.get("out_trade_no") != out_trade_no:
            raise unreadable_answer("alipay", "trade.query", answer, PAYMENT_UNAVAILABLE)
        trade_no = answer.get("trade_no")
        return ChannelPayment(out_trade_no, state, total, trade_no if isinstance(trade_no, str) else None, paid_at)

    def close(self, out_trade_no: str) -> None:
        """alipay.trade.close; a closed trade is fine, a paid one is billing.order_paid."""

        def attempt() -> bool:
            answer = self._call("trade.close", {"out_trade_no": out_trade_no})
            if answer["code"] == SUCCESS:
                return True
            if answer.get("sub_code") == "ACQ.TRADE_STATUS_ERROR":
                return False  # not waiting for its buyer: closed already, or paid
            raise from_alipay_trade("trade.close", answer["code"], answer.get("sub_code"))

        if self.calls.write("trade.close", attempt):
            return
        seen = self.query(out_trade_no)
        if seen.state in (PAID, REFUNDED):
            raise order_paid()
        if seen.state != CLOSED:
            raise payment_unavailable("Alipay would not close a trade it says is waiting for its buyer.")

    def refund(self, order: RefundOrder) -> ChannelRefund:
        """alipay.trade.refund, synchronous; a repeated number moves no money ("N"): its query says how it ended."""
        biz = {
            "out_trade_no": order.out_trade_no,
            "refund_amount": yuan(order.amount_fen),
            "out_request_no": order.out_refund_no,
            **({"refund_reason": order.reason[:REASON_LIMIT]} if order.reason else {}),
        }
        answer = self.calls.write("trade.refund", lambda: self._answer("trade.refund", biz))
        if answer.get("fund_change") == "Y":
            return ChannelRefund(
                order.out_refund_no, REFUND_SUCCEEDED, None, read_alipay_time(answer.get("gmt_refund_pay"))
            )
        try:
            return self.query_refund(order.out_trade_no, order.out_refund_no)
        except UpstreamRejected as refused:
            if refused.code != "billing.refund_not_found":
                raise
            # Accepted, but no money moved and none is recorded yet: asked about again later.
            return ChannelRefund(order.out_refund_no, REFUND_PROCESSING)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        """alipay.trade.fastpay.refund.query: a refund Alipay made, or billing.refund_not_found."""
        return self._refund_record(out_trade_no, out_refund_no)[0]

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the form's RSA2 signature with Alipay's public key over the raw body, and read it."""
        fields = _form(body)
        signature = fields.pop("sign", "")
        if not signature:
            raise NotificationRefused("unsigned")
        try:
            # verify() pops sign_type (and raises for one other than ours) from the dict it is given.
            verified = self.client.verify(dict(fields), signature)
        except Exception as error:  # AliPayException for another sign_type; binascii.Error for a non-base64 sign
            raise NotificationRefused("bad_signature") from error
        if not verified:
            raise NotificationRefused("bad_signature")
        if fields.get("seller_id") != self.seller_id:
            security_log.warning("alipay notification for another seller", extra={"app_id": self.merchant_id})
            raise NotificationRefused("seller_mismatch")
        if fields.get("app_id") != self.merchant_id:
            raise NotificationRefused("merchant_mismatch")
        notify_id, notify_time = _text(fields, "notify_id"), _text(fields, "notify_time")
        sent_at, total = read_alipay_time(notify_time), fen_of(fields.get("total_amount"))
        if sent_at is None or total is None:
            raise NotificationRefused("garbled")
        common: dict[str, Any] = {
            # notify_id stays the same across tries of one notification; each try has its own notify_time.
            "event_id": notify_id,
            "delivery": f"{notify_id}:{notify_time}",
            "sent_at": sent_at,
            "app_id": self.merchant_id,
            "merchant_id": self.merchant_id,
            "out_trade_no": _text(fields, "out_trade_no"),
            "amount_fen": total,
            # JSAPI_PAY trades are in CNY; the notification names no currency.
            "currency": "CNY",
            "channel_trade_no": fields.get("trade_no") or None,
        }
        if "out_biz_no" in fields or "refund_fee" in fields:
            return self._refund_notice(fields, common)
        state = NOTICE_STATES.get(fields.get("trade_status", ""))
        if state is None:
            raise NotificationRefused("unknown_event")
        moment = fields.get("gmt_payment") if state == PAID else fields.get("gmt_close")
        return Notice(kind=PAYMENT_NOTICE, state=state, at=read_alipay_time(moment), **common)

    def acknowledgement(self, received: bool) -> Acknowledgement:
        """The body exactly `success` once received; anything else (here `fail`) and Alipay sends it again."""
        return Acknowledgement(200, b"success" if received else b"fail", "text/plain")

    def bill(self, day: date, folder: Path) -> DayBill:
        """The day's trade bill: its zip downloaded, the detail and summary files taken out into folder."""
        answer = self.calls.read("bill", lambda: self._bill_url(day))
        if answer is None:
            raise BillNotReady(day.isoformat())
        stem = folder / f"alipay_{self.merchant_id}_{day.strftime('%Y%m%d')}"
        with tempfile.TemporaryFile(dir=folder) as archive:
            self.calls.read("bill_download", lambda: self._download(str(answer["bill_download_url"]), archive))
            detail, summary = Path(f"{stem}{DETAIL_FILE}"), Path(f"{stem}{SUMMARY_FILE}")
            sha1 = _unzip(archive, {DETAIL_FILE: detail, SUMMARY_FILE: summary})
        return DayBill(self.channel, self.merchant_id, day, detail, sha1, summary_path=summary)

    def _bill_url(self, day: date) -> dict[str, Any] | None:
        """Where the day's bill is (valid 30 s), or None for a bill not made yet."""
        answer = self._call(BILL_URL, {"bill_type": "trade", "bill_date": day.isoformat()})
        if answer["code"] == BUSINESS_FAILED and answer.get("sub_code") in BILL_NOT_MADE:
            return None
        if answer["code"] != SUCCESS:
            raise from_alipay_trade(BILL_URL, answer["code"], answer.get("sub_code"))
        return answer_fields("alipay", BILL_URL, answer, "bill_download_url", code=PAYMENT_UNAVAILABLE)

    def _download(self, url: str, archive: IO[bytes]) -> None:
        """GET the zip into archive, a chunk at a time (a try cut short starts it again from nothing)."""
        archive.seek(0)
        archive.truncate()
        with self.http.get(url, stream=True, timeout=self.calls.policy.timeout_seconds) as response:
            if response.status_code != 200:
                # The URL lived 30 s: a later bill() asks for a fresh one.
                log.warning("alipay bill download refused", extra={"status": response.status_code})
                raise payment_unavailable("Alipay's bill could not be downloaded.")
            for chunk in response.iter_content(CHUNK):
                archive.write(chunk)

    def _refund_notice(self, fields: dict[str, str], common: dict[str, Any]) -> Notice:
        out_refund_no = _text(fields, "out_biz_no")
        try:
            refund, refund_fen = self._refund_record(common["out_trade_no"], out_refund_no)
        except DomainError as failure:
            log.warning("an alipay refund notification could not be confirmed now", extra={"code": failure.code})
            raise NotificationRefused("unconfirmed") from failure
        return Notice(
            kind=REFUND_NOTICE,
            state=REFUND_SUCCEEDED,  # Alipay notifies a refund once it is made
            at=read_alipay_time(fields.get("gmt_refund")) or refund.settled_at,
            out_refund_no=out_refund_no,
            refund_fen=refund_fen,
            **common,
        )

    def _refund_record(self, out_trade_no: str, out_refund_no: str) -> tuple[ChannelRefund, int]:
        """A refund Alipay made and its own amount in fen; billing.refund_not_found for one it has not made."""

        def attempt() -> dict[str, Any]:
            biz = {"out_trade_no": out_trade_no, "out_request_no": out_refund_no}
            answer = self._answer("trade.fastpay.refund.query", biz)
            if not answer.get("refund_amount"):
                raise refund_not_found()  # the answer holds only the trade's numbers
            return answer

        answer = self.calls.read("trade.fastpay.refund.query", attempt)
        amount, status = fen_of(answer.get("refund_amount")), answer.get("refund_status")
        if amount is None:
            raise unreadable_answer("alipay", "trade.fastpay.refund.query", answer, PAYMENT_UNAVAILABLE)
        # REFUND_SUCCESS, or (in older answers) no status at all, is a refund made; any other, not yet.
        state = REFUND_SUCCEEDED if status in (None, "REFUND_SUCCESS") else REFUND_PROCESSING
        return ChannelRefund(out_refund_no, state, None, read_alipay_time(answer.get("gmt_refund_pay"))), amount

    def _answer(self, operation: str, biz: dict[str, Any], *required: str, **common: str) -> dict[str, Any]:
        """A trade call whose answer must be success (code 10000) with the required fields."""
        answer = self._call(operation, biz, **common)
        if answer["code"] != SUCCESS:
            raise from_alipay_trade(operation, answer["code"], answer.get("sub_code"))
        return answer_fields("alipay", operation, answer, "code", *required, code=PAYMENT_UNAVAILABLE)

    def _call(self, operation: str, biz: dict[str, Any], **common: str) -> dict[str, Any]:
        """One signed gateway call; its verified answer holding a code, whatever the code."""
        try:
            answer = self.client.server_api("alipay." + operation, biz_content=biz, **common)
        except SDK_FAILURES as error:
            raise from_alipay_sdk(error, self.merchant_id, operation) from error
        except UpstreamUnavailable as unreadable:  # the client's verdict on an answer that is not JSON
            raise payment_unavailable("Alipay gave an answer we could not read.") from unreadable
        return answer_fields("alipay", operation, answer, "code", code=PAYMENT_UNAVAILABLE)


def _unzip(archive: IO[bytes], wanted: dict[str, Path]) -> str:
    """Take each wanted member (by how its name ends) out to its path; the first one's SHA1 hex, or BillRefused."""
    try:
        return _take_out(archive, wanted)
    except BaseException:
        for path in wanted.values():
            path.unlink(missing_ok=True)  # half a bill is no bill
        raise


def _take_out(archive: IO[bytes], wanted: dict[str, Path]) -> str:
    archive.seek(0)
    sums = []
    try:
        # Alipay writes the names as GBK bytes without zip's UTF-8 flag.
        with zipfile.ZipFile(archive, metadata_encoding="gbk") as bill:
            for ending, path in wanted.items():
                # 业务明细(汇总).csv does not end with _业务明细.csv: each ending names one member.
                members = [info for info in bill.infolist() if info.filename.endswith(ending)]
                if len(members) != 1:
                    raise BillRefused(f"no single {ending.strip('_')} file in the archive")
                # Our own file names: a member's name is never a path on our disk.
                with bill.open(members[0]) as source, path.open("wb") as target:
                    sums.append(_copy(source, target))
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError) as error:
        raise BillRefused("archive unreadable") from error
    return sums[0]


def _copy(source: IO[bytes], target: IO[bytes]) -> str:
    sha1 = hashlib.sha1()
    while chunk := source.read(CHUNK):
        sha1.update(chunk)
        target.write(chunk)
    return sha1.hexdigest()


def _form(body: bytes) -> dict[str, str]:
    """The notification's form fields, read from the raw bytes as UTF-8; a field sent twice is garbled."""
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True, strict_parsing=True, errors="strict")
    except (UnicodeDecodeError, ValueError) as error:
        raise NotificationRefused("garbled") from error
    fields = dict(pairs)
    if len(fields) != len(pairs):
        raise NotificationRefused("garbled")
    return fields


def _text(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name, "")
    if not value:
        raise NotificationRefused("garbled")
    return value
