"""Orders the merchants opened with WeChat Pay and Alipay, what the payers did, and the refunds.

One lock guards the whole book, so "is it paid?" and "pay it" (or "how much is left to refund?"
and "refund it") are one step however many request threads, helpers and clock jobs touch an order
at once. Money that moves is booked in the ledger under the same lock, at the moment it moves.

An order is keyed by (channel, merchant, out_trade_no): the merchant is the WeChat Pay mch_id, or
the Alipay seller_id. Each channel words states and refusals in its own dialect; the book keeps
neutral ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from dataclasses import replace
from datetime import datetime
from typing import Any

from sandbox.outbox import BEIJING
from sandbox.pay_ledger import PAYMENT
from sandbox.pay_ledger import REFUND
from sandbox.pay_ledger import LedgerEntry
from sandbox.pay_ledger import PayLedger

WECHAT_PAY, ALIPAY = "wechat_pay", "alipay"
CHANNELS = (WECHAT_PAY, ALIPAY)

# Order states. FINISHED: paid, and past the time refunds can be asked for (Alipay's TRADE_FINISHED).
OPEN, PAID, FAILED, CLOSED, FINISHED = "open", "paid", "failed", "closed", "finished"
SETTLED = (PAID, FINISHED)  # the payer's money reached the merchant
# Refund states, and the outcomes a helper may arrange for one.
PROCESSING, SUCCESS, ABNORMAL, REFUND_CLOSED = "processing", "success", "abnormal", "closed"
OUTCOMES = (SUCCESS, ABNORMAL, REFUND_CLOSED, PROCESSING)

# Why the book refused; each channel words these in its own error format.
ORDER_PAID = "order_paid"
ORDER_CLOSED = "order_closed"
ORDER_FINISHED = "order_finished"
NOT_PAID = "not_paid"
TERMS_DIFFER = "terms_differ"  # the same number again, for something else
OVER_REFUND = "over_refund"
REFUND_ENDED = "refund_ended"

OrderKey = tuple[str, str, str]


class PaymentRefusal(Exception):
    """The book cannot do what was asked; reason is one of the constants above."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class Refund:
    """Money going back to the payer, from the request to its end."""

    out_refund_no: str  # WeChat out_refund_no, or the Alipay out_request_no
    refund_id: str
    amount_fen: int
    status: str
    created_at: float
    notify_url: str | None
    reason: str | None
    # How it ends when the clock settles it: None is success; PROCESSING waits for a helper to decide.
    arranged: str | None = None
    settled_at: float | None = None

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        return {
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "amount_fen": self.amount_fen,
            "status": self.status,
            "arranged": self.arranged,
            "created_at": beijing_moment(self.created_at),
            "settled_at": beijing_moment(self.settled_at),
        }


@dataclass
class Order:
    """One order a merchant opened, as the channel sees it."""

    channel: str
    merchant: str  # WeChat Pay mch_id, or the Alipay seller_id
    app_id: str
    out_trade_no: str
    amount_fen: int
    payer: str  # WeChat openid, or the Alipay user_id
    subject: str  # WeChat description, Alipay subject
    notify_url: str | None
    terms: tuple[Any, ...]  # what the merchant asked for; a repeated request must ask for the same
    created_at: float
    expires_at: float | None = None
    payer_open_id: str | None = None  # Alipay's per-app id of the payer
    trade_no: str | None = None  # WeChat transaction_id (once paid), or the Alipay trade_no (from the start)
    prepay_id: str | None = None  # WeChat only
    attach: str | None = None
    state: str = OPEN
    paid_at: float | None = None
    closed_at: float | None = None
    refunds: list[Refund] = field(default_factory=list)

    @property
    def key(self) -> OrderKey:
        """(channel, merchant, out_trade_no)."""
        return (self.channel, self.merchant, self.out_trade_no)

    @property
    def refunded_fen(self) -> int:
        """What has reached the payer again."""
        return sum(r.amount_fen for r in self.refunds if r.status == SUCCESS)

    @property
    def committed_fen(self) -> int:
        """What is refunded or on its way back (a closed refund gives its amount back to the merchant)."""
        return sum(r.amount_fen for r in self.refunds if r.status != REFUND_CLOSED)

    def refund(self, out_refund_no: str) -> Refund | None:
        """The refund with this number, if any."""
        return next((r for r in self.refunds if r.out_refund_no == out_refund_no), None)

    def snapshot(self) -> Order:
        """A copy that later changes to the book do not touch."""
        return replace(self, refunds=[replace(r) for r in self.refunds])

    def describe(self) -> dict[str, object]:
        """Neutral JSON view for the helper API (the channel's state word is added by the caller)."""
        return {
            "channel": self.channel,
            "merchant": self.merchant,
            "app_id": self.app_id,
            "out_trade_no": self.out_trade_no,
            "trade_no": self.trade_no,
            "prepay_id": self.prepay_id,
            "amount_fen": self.amount_fen,
            "subject": self.subject,
            "payer": self.payer,
            "payer_open_id": self.payer_open_id,
            "notify_url": self.notify_url,
            "created_at": beijing_moment(self.created_at),
            "expires_at": beijing_moment(self.expires_at),
            "paid_at": beijing_moment(self.paid_at),
            "closed_at": beijing_moment(self.closed_at),
            "refunded_fen": self.refunded_fen,
            "refunds": [r.describe() for r in self.refunds],
        }


def beijing_moment(at: float | None) -> str | None:
    """Unix seconds as ISO 8601 Beijing time with milliseconds (None stays None)."""
    return None if at is None else datetime.fromtimestamp(at, BEIJING).isoformat(timespec="milliseconds")


class PaymentBook:
    """Every order of both channels, their refunds, and the outcomes helpers arranged for refunds."""

    def __init__(self, ledger: PayLedger) -> None:
        self.ledger = ledger
        self._orders: dict[OrderKey, Order] = {}
        self._by_trade_no: dict[tuple[str, str, str], OrderKey] = {}
        self._by_refund_no: dict[str, list[OrderKey]] = {}
        self._arranged: dict[str, str] = {}
        self._lock = threading.Lock()

    def open(self, order: Order) -> tuple[Order, bool]:
        """Open order, or answer the one already open under its number; (order, whether it is new)."""
        with self._lock:
            known = self._orders.get(order.key)
            if known is not None:
                self._expire(known, time.time())
                if known.state in SETTLED:
                    raise PaymentRefusal(ORDER_PAID if known.state == PAID else ORDER_FINISHED)
                if known.state == CLOSED:
                    raise PaymentRefusal(ORDER_CLOSED)
                if known.terms != order.terms:
                    raise PaymentRefusal(TERMS_DIFFER)
                return known.snapshot(), False
            self._orders[order.key] = order
            if order.trade_no is not None:
                self._by_trade_no[(order.channel, order.merchant, order.trade_no)] = order.key
            return order.snapshot(), True

    def find(self, key: OrderKey) -> Order | None:
        """The order with this key, as it stands."""
        with self._lock:
            order = self._orders.get(key)
            if order is None:
                return None
            self._expire(order, time.time())
            return order.snapshot()

    def find_by_trade_no(self, channel: str, merchant: str, trade_no: str) -> Order | None:
        """The order the channel numbered trade_no (WeChat: only once paid)."""
        with self._lock:
            key = self._by_trade_no.get((channel, merchant, trade_no))
        return None if key is None else self.find(key)

    def find_by_number(self, out_trade_no: str, channel: str | None = None) -> list[Order]:
        """Every order with this out_trade_no (of one channel, or both), for the helpers."""
        with self._lock:
            keys = [key for key in self._orders if key[2] == out_trade_no and channel in (None, key[0])]
        return [order for order in (self.find(key) for key in keys) if order is not None]

    def pay(self, key: OrderKey, succeeded: bool, new_trade_no: Callable[[], str]) -> Order:
        """The payer pays the open order; success is booked in the ledger. A WeChat failure is final for the try."""
        now = time.time()
        with self._lock:
            order = self._existing(key)
            self._expire(order, now)
            if order.state in SETTLED:
                raise PaymentRefusal(ORDER_PAID)
            if order.state == CLOSED:
                raise PaymentRefusal(ORDER_CLOSED)
            if not succeeded:
                # WeChat shows a failed payment (PAYERROR); Alipay's trade just waits for the buyer.
                order.state = FAILED if order.channel == WECHAT_PAY else OPEN
                return order.snapshot()
            order.state, order.paid_at = PAID, now
            if order.trade_no is None:
                order.trade_no = new_trade_no()
                self._by_trade_no[(order.channel, order.merchant, order.trade_no)] = order.key
            self.ledger.add(
                LedgerEntry(
                    kind=PAYMENT,
                    channel=order.channel,
                    merchant=order.merchant,
                    app_id=order.app_id,
                    out_trade_no=order.out_trade_no,
                    trade_no=order.trade_no,
                    payer=order.payer,
                    amount_fen=order.amount_fen,
                    order_total_fen=order.amount_fen,
                    at=now,
                    subject=order.subject,
                    ordered_at=order.created_at,
                )
            )
            return order.snapshot()

    def close(self, key: OrderKey) -> tuple[Order, bool]:
        """Close an unpaid order; (order, whether this call closed it). A paid order cannot be closed."""
        now = time.time()
        with self._lock:
            order = self._existing(key)
            self._expire(order, now)
            if order.state in SETTLED:
                raise PaymentRefusal(ORDER_PAID)
            if order.state == CLOSED:
                return order.snapshot(), False
            order.state, order.closed_at = CLOSED, now
            return order.snapshot(), True

    def finish(self, key: OrderKey) -> Order:
        """The refund window of a paid order ends (Alipay TRADE_FINISHED); nothing can be refunded after."""
        with self._lock:
            order = self._existing(key)
            self._expire(order, time.time())
            if order.state != PAID:
                raise PaymentRefusal({CLOSED: ORDER_CLOSED, FINISHED: ORDER_FINISHED}.get(order.state, NOT_PAID))
            order.state = FINISHED
            return order.snapshot()

    def start_refund(
        self,
        key: OrderKey,
        out_refund_no: str,
        amount_fen: int,
        new_refund_id: Callable[[], str],
        *,
        notify_url: str | None = None,
        reason: str | None = None,
        at_once: bool = False,
        unique_per_merchant: bool = False,
    ) -> tuple[Order, Refund, bool]:
        """Ask for a refund; (order, refund, whether it is new). The same number again answers the same refund.

        A refund asked at_once (Alipay) succeeds in this call; otherwise (WeChat) it is PROCESSING until
        settled. unique_per_merchant: the number may not name a refund of another order of the merchant.
        """
        now = time.time()
        with self._lock:
            order = self._existing(key)
            self._expire(order, now)
            earlier = order.refund(out_refund_no)
            if earlier is None and unique_per_merchant and self._used_by_merchant(order, out_refund_no):
                raise PaymentRefusal(TERMS_DIFFER)
            if earlier is not None:
                if earlier.amount_fen != amount_fen:
                    raise PaymentRefusal(TERMS_DIFFER)
                return order.snapshot(), replace(earlier), False
            if order.state in (CLOSED, FINISHED):
                raise PaymentRefusal(ORDER_CLOSED if order.state == CLOSED else ORDER_FINISHED)
            if order.state != PAID:
                raise PaymentRefusal(NOT_PAID)
            if order.committed_fen + amount_fen > order.amount_fen:
                raise PaymentRefusal(OVER_REFUND)
            arranged = self._arranged.pop(out_refund_no, None)
            refund = Refund(
                out_refund_no=out_refund_no,
                refund_id=new_refund_id(),
                amount_fen=amount_fen,
                status=PROCESSING,
                created_at=now,
                notify_url=notify_url,
                reason=reason,
                arranged=arranged,
            )
            order.refunds.append(refund)
            self._by_refund_no.setdefault(out_refund_no, []).append(order.key)
            if at_once:
                self._end_refund(order, refund, SUCCESS, now)
            return order.snapshot(), replace(refund), True

    def arrangement(self, out_refund_no: str) -> str | None:
        """The outcome arranged for the next refund asked with this number, if any."""
        with self._lock:
            return self._arranged.get(out_refund_no)

    def forget_arrangement(self, out_refund_no: str) -> None:
        """The arrangement was used up by a refund that failed before it started (Alipay)."""
        with self._lock:
            self._arranged.pop(out_refund_no, None)

    def settle_refund(
        self, key: OrderKey, out_refund_no: str, outcome: str | None = None
    ) -> tuple[Order, Refund] | None:
        """End a PROCESSING refund with outcome (a helper), or as arranged (the clock); None if it did not end."""
        now = time.time()
        with self._lock:
            order = self._orders.get(key)
            refund = order.refund(out_refund_no) if order is not None else None
            if order is None or refund is None or refund.status != PROCESSING:
                return None
            final = outcome if outcome is not None else refund.arranged or SUCCESS
            if final == PROCESSING:
                refund.arranged = PROCESSING  # only a helper ends it now
                return None
            self._end_refund(order, refund, final, now)
            return order.snapshot(), replace(refund)

    def arrange(self, out_refund_no: str, outcome: str) -> list[OrderKey]:
        """Arrange how the refund with this number ends; the keys of the orders whose refund it decides now.

        A refund still PROCESSING is decided by the caller (settle_refund); one that has ended refuses
        (REFUND_ENDED); a number not asked for yet keeps the outcome for the refund that will use it.
        """
        with self._lock:
            keys = self._by_refund_no.get(out_refund_no, [])
            refunds = [(key, self._orders[key].refund(out_refund_no)) for key in keys]
            processing = [key for key, refund in refunds if refund is not None and refund.status == PROCESSING]
            if keys and not processing:
                raise PaymentRefusal(REFUND_ENDED)
            if not keys:
                self._arranged[out_refund_no] = outcome
            return processing

    def order_with_refund(self, channel: str, merchant: str, out_refund_no: str) -> Order | None:
        """The order of merchant that holds the refund with this number."""
        with self._lock:
            keys = [k for k in self._by_refund_no.get(out_refund_no, []) if k[:2] == (channel, merchant)]
        return self.find(keys[0]) if keys else None

    def _existing(self, key: OrderKey) -> Order:
        order = self._orders.get(key)
        if order is None:
            raise KeyError(key)
        return order

    def _used_by_merchant(self, order: Order, out_refund_no: str) -> bool:
        return any(k[:2] == order.key[:2] and k != order.key for k in self._by_refund_no.get(out_refund_no, []))

    def _end_refund(self, order: Order, refund: Refund, status: str, now: float) -> None:
        refund.status, refund.settled_at = status, now
        if status != SUCCESS or order.trade_no is None:
            return
        self.ledger.add(
            LedgerEntry(
                kind=REFUND,
                channel=order.channel,
                merchant=order.merchant,
                app_id=order.app_id,
                out_trade_no=order.out_trade_no,
                trade_no=order.trade_no,
                payer=order.payer,
                amount_fen=refund.amount_fen,
                order_total_fen=order.amount_fen,
                at=now,
                subject=order.subject,
                out_refund_no=refund.out_refund_no,
                refund_id=refund.refund_id,
                ordered_at=order.created_at,
                asked_at=refund.created_at,
            )
        )

    @staticmethod
    def _expire(order: Order, now: float) -> None:
        # An unpaid order past its expiry is closed by the channel, at that moment.
        if order.state in (OPEN, FAILED) and order.expires_at is not None and now >= order.expires_at:
            order.state, order.closed_at = CLOSED, order.expires_at
