"""A payment channel in memory, for fast tests: it keeps its own orders and signs its own notifications.

It behaves as the real adapters promise (the contract suite runs over it and them): orders are
idempotent by number, a refund number refunds once, refunds never exceed what was paid, and each
notification it sends is signed afresh (HMAC over time, nonce and body). Its daily bill lists its own
payments and settled refunds in WeChat Pay's format, whichever channel it plays (billing/fake_bill.py).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from pathlib import Path

from billing import fake_bill
from billing.bill_lines import BEIJING
from billing.bill_lines import PAYMENT
from billing.bill_lines import REFUND
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
from billing.gateway import ChannelPayment
from billing.gateway import ChannelRefund
from billing.gateway import Checkout
from billing.gateway import DayBill
from billing.gateway import Notice
from billing.gateway import NotificationRefused
from billing.gateway import Order
from billing.gateway import RefundOrder
from errors import UpstreamRejected
from errors import UpstreamUnavailable


@dataclass
class _Order:
    order: Order
    state: str = UNPAID
    trade_no: str = ""
    paid_at: datetime | None = None
    refunds: dict[str, tuple[RefundOrder, str]] = field(default_factory=dict)
    # out_refund_no -> when the refund succeeded
    settled: dict[str, datetime] = field(default_factory=dict)


@dataclass(frozen=True)
class Delivery:
    """A notification as the channel sends it: headers and raw body."""

    headers: dict[str, str]
    body: bytes


class FakePaymentGateway:
    """One merchant at a pretend channel."""

    name = "fake_pay"

    def __init__(self, channel: str, merchant_id: str, clock: Callable[[], datetime]) -> None:
        self.channel = channel
        self.merchant_id = merchant_id
        self._clock = clock
        self._key = secrets.token_bytes(32)
        self._orders: dict[str, _Order] = {}
        self._lock = threading.Lock()
        # Set to make every call fail as an unreachable channel would.
        self.down = False
        # Set to refuse refunds as a channel does when the merchant's balance is too low.
        self.refusing_refunds = False
        self._differences: list[fake_bill.Difference] = []
        self._days_not_ready: set[date] = set()
        self.calls: list[tuple[str, str]] = []

    def create(self, order: Order) -> Checkout:
        """Place an order; the same number with other content is refused."""
        self._reach("create", order.out_trade_no)
        with self._lock:
            known = self._orders.setdefault(order.out_trade_no, _Order(order, trade_no="ft" + secrets.token_hex(8)))
        if known.order != order:
            raise UpstreamRejected(
                "billing.order_conflict", "The channel holds another order with this number.", "conflict"
            )
        return Checkout(known.trade_no, {"tradeNO": known.trade_no})

    def query(self, out_trade_no: str) -> ChannelPayment:
        """The channel's view of an order."""
        self._reach("query", out_trade_no)
        known = self._known(out_trade_no)
        return ChannelPayment(out_trade_no, known.state, known.order.amount_fen, known.trade_no, known.paid_at)

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order."""
        self._reach("close", out_trade_no)
        known = self._known(out_trade_no)
        with self._lock:
            if known.state in (PAID, REFUNDED):
                raise UpstreamRejected("billing.order_paid", "The order was paid.", "conflict")
            known.state = CLOSED

    def refund(self, order: RefundOrder) -> ChannelRefund:
        """Accept a refund once per number, never past what was paid."""
        self._reach("refund", order.out_refund_no)
        if self.refusing_refunds:
            raise UpstreamRejected("billing.refund_refused", "The channel refused the refund.", "conflict")
        known = self._known(order.out_trade_no)
        with self._lock:
            if order.out_refund_no in known.refunds:
                return ChannelRefund(order.out_refund_no, known.refunds[order.out_refund_no][1])
            if known.state not in (PAID, REFUNDED):
                raise UpstreamRejected("billing.order_not_paid", "The order was not paid.", "conflict")
            taken = sum(r.amount_fen for r, state in known.refunds.values() if state != REFUND_FAILED)
            if taken + order.amount_fen > known.order.amount_fen:
                raise UpstreamRejected("billing.refund_not_enough", "Not enough left to refund.", "conflict")
            known.refunds[order.out_refund_no] = (order, REFUND_PROCESSING)
        return ChannelRefund(order.out_refund_no, REFUND_PROCESSING)

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        """The channel's view of a refund."""
        self._reach("query_refund", out_refund_no)
        known = self._known(out_trade_no)
        if out_refund_no not in known.refunds:
            raise UpstreamRejected("billing.refund_not_found", "No such refund at the channel.", "not_found")
        return ChannelRefund(out_refund_no, known.refunds[out_refund_no][1])

    def pay(self, out_trade_no: str, *, succeed: bool = True) -> Delivery:
        """The payer pays (or the payment fails); the notification the channel would send."""
        known = self._known(out_trade_no)
        with self._lock:
            known.state = PAID if succeed else FAILED
            known.paid_at = self._clock() if succeed else None
        return self.payment_notification(out_trade_no)

    def payment_notification(self, out_trade_no: str, /, **changes: object) -> Delivery:
        """A fresh delivery of the order's payment notification; changes override fields (to forge one)."""
        known = self._known(out_trade_no)
        fields: dict[str, object] = {
            "kind": PAYMENT_NOTICE,
            "event_id": "pay-" + hashlib.sha256(out_trade_no.encode()).hexdigest()[:16],
            "app_id": known.order.app_id,
            "merchant_id": self.merchant_id,
            "out_trade_no": out_trade_no,
            "amount_fen": known.order.amount_fen,
            "currency": "CNY",
            "state": PAID if known.state in (PAID, REFUNDED) else known.state,
            "channel_trade_no": known.trade_no,
        }
        return self._deliver({**fields, **changes})

    def settle_refund(self, out_trade_no: str, out_refund_no: str, *, succeed: bool = True) -> Delivery:
        """The channel finishes a refund; the notification it sends."""
        known = self._known(out_trade_no)
        with self._lock:
            order, _ = known.refunds[out_refund_no]
            known.refunds[out_refund_no] = (order, REFUND_SUCCEEDED if succeed else REFUND_FAILED)
            if succeed:
                known.settled.setdefault(out_refund_no, self._clock())
            refunded = sum(r.amount_fen for r, state in known.refunds.values() if state == REFUND_SUCCEEDED)
            if refunded == known.order.amount_fen:
                known.state = REFUNDED
        fields = {
            "kind": REFUND_NOTICE,
            "event_id": "refund-" + out_refund_no,
            "app_id": known.order.app_id,
            "merchant_id": self.merchant_id,
            "out_trade_no": out_trade_no,
            "amount_fen": known.order.amount_fen,
            "currency": "CNY",
            "state": REFUND_SUCCEEDED if succeed else REFUND_FAILED,
            "out_refund_no": out_refund_no,
            "refund_fen": order.amount_fen,
            "channel_refund_id": "fr" + out_refund_no[-8:],
        }
        return self._deliver(fields)

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the signature over the raw body and read it."""
        signature = headers.get("X-Fake-Signature", "")
        timestamp = headers.get("X-Fake-Timestamp", "")
        nonce = headers.get("X-Fake-Nonce", "")
        if not hmac.compare_digest(signature, self._sign(timestamp, nonce, body)):
            raise NotificationRefused("bad_signature")
        try:
            fields = json.loads(body)
            return Notice(
                delivery=f"{timestamp}:{nonce}",
                sent_at=datetime.fromisoformat(timestamp),
                **fields,
            )
        except (ValueError, TypeError) as garbled:
            raise NotificationRefused("garbled") from garbled

    def acknowledgement(self, received: bool) -> Acknowledgement:
        """200 when received; 500 with a FAIL body otherwise (as WeChat Pay reads them)."""
        if received:
            return Acknowledgement(200, b"", "text/plain")
        return Acknowledgement(500, b'{"code":"FAIL","message":"failed"}', "application/json")

    def bill(self, day: date, folder: Path) -> DayBill:
        """The day's bill (Beijing day) of paid orders and settled refunds, planted differences applied."""
        self._reach("bill", day.isoformat())
        if day in self._days_not_ready:
            raise BillNotReady(day.isoformat())
        with self._lock:
            moves = [move for move in self._moves() if fake_bill.beijing_day(move.at) == day]
            differences = [d for d in self._differences if d.day == day]
        moves = fake_bill.with_differences(moves, differences, self._any_app())
        if not moves:
            raise BillNotReady(day.isoformat())  # as WeChat Pay answers NO_STATEMENT_EXIST
        raw = fake_bill.wechat_bill_text(moves, self.merchant_id).encode("utf-8")
        path = folder / f"{self.merchant_id}_{day.isoformat()}_ALL.csv"
        path.write_bytes(raw)
        return DayBill("wechat", self.merchant_id, day, path, hashlib.sha1(raw).hexdigest())

    def plant_bill_difference(
        self, kind: str, out_trade_no: str | None = None, amount_fen: int | None = None, day: date | None = None
    ) -> str:
        """Make a day's bill (default today) differ from the orders, as the sandbox's bill helper does; the number."""
        if kind not in fake_bill.KINDS:
            raise ValueError(f"no such bill difference: {kind}")
        now = self._clock()
        bill_day = day or fake_bill.beijing_day(now)
        at = now if bill_day == fake_bill.beijing_day(now) else datetime(*bill_day.timetuple()[:3], 12, tzinfo=BEIJING)
        number = out_trade_no or "FX" + secrets.token_hex(8).upper()
        with self._lock:
            self._differences.append(fake_bill.Difference(kind, bill_day, number, amount_fen, at))
        return number

    def forget_bill_differences(self) -> None:
        """Make the bills as the orders are again, as the sandbox's DELETE of its planted differences does."""
        with self._lock:
            self._differences.clear()

    def bill_not_ready(self, day: date) -> None:
        """Answer BillNotReady for day's bill from now on."""
        self._days_not_ready.add(day)

    def _moves(self) -> list[fake_bill.Move]:
        moves = []
        for known in self._orders.values():
            if known.paid_at is None:
                continue
            order = known.order
            fee = fake_bill.payment_fee(order.amount_fen)
            moves.append(
                fake_bill.Move(
                    PAYMENT,
                    known.paid_at,
                    order.app_id,
                    order.out_trade_no,
                    known.trade_no,
                    order.payer,
                    order.amount_fen,
                    fee,
                )
            )
            refunded = 0
            for out_refund_no, at in sorted(known.settled.items(), key=lambda item: item[1]):
                amount = known.refunds[out_refund_no][0].amount_fen
                back = fake_bill.given_back(fee, refunded + amount, order.amount_fen) - fake_bill.given_back(
                    fee, refunded, order.amount_fen
                )
                refunded += amount
                moves.append(
                    fake_bill.Move(
                        REFUND,
                        at,
                        order.app_id,
                        order.out_trade_no,
                        known.trade_no,
                        order.payer,
                        amount,
                        -back,
                        out_refund_no,
                    )
                )
        return moves

    def _any_app(self) -> str:
        return next((known.order.app_id for known in self._orders.values()), "fake-app")

    def _deliver(self, fields: Mapping[str, object]) -> Delivery:
        body = json.dumps(fields, sort_keys=True).encode()
        timestamp = self._clock().isoformat()
        nonce = secrets.token_hex(8)
        headers = {
            "X-Fake-Timestamp": timestamp,
            "X-Fake-Nonce": nonce,
            "X-Fake-Signature": self._sign(timestamp, nonce, body),
        }
        return Delivery(headers, body)

    def _sign(self, timestamp: str, nonce: str, body: bytes) -> str:
        return hmac.new(self._key, f"{timestamp}\n{nonce}\n".encode() + body, hashlib.sha256).hexdigest()

    def _known(self, out_trade_no: str) -> _Order:
        with self._lock:
            known = self._orders.get(out_trade_no)
        if known is None:
            raise UpstreamRejected("billing.order_not_found", "The channel has no such order.", "not_found")
        return known

    def _reach(self, call: str, ref: str) -> None:
        self.calls.append((call, ref))
        if self.down:
            raise UpstreamUnavailable("billing.channel_unavailable", "The payment channel cannot be reached.")
