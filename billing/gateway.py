"""The PaymentGateway port: what billing needs of a channel's payment API, in integer fen and our words.

Adapters (WeChat Pay v3, Alipay) return only these dataclasses and raise only our errors:
UpstreamUnavailable when the channel could not answer (the same call may succeed later),
UpstreamRejected when its answer is final, NotificationRefused for a notification that must not
be acknowledged, BillNotReady and BillRefused for a day's bill that cannot be had now or trusted.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from datetime import datetime
from pathlib import Path
from typing import Protocol

# What a channel says of an order.
UNPAID, PAID, CLOSED, FAILED, REFUNDED = "unpaid", "paid", "closed", "failed", "refunded"
# What a channel says of a refund.
REFUND_PROCESSING, REFUND_SUCCEEDED, REFUND_FAILED = "processing", "succeeded", "failed"
# What a notification tells.
PAYMENT_NOTICE, REFUND_NOTICE = "payment", "refund"


class NotificationRefused(Exception):
    """A notification that is not the channel's, not fresh, or not readable: answer failure, never success."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BillNotReady(Exception):
    """The channel has not made that day's bill yet: ask again later."""


class BillRefused(Exception):
    """A downloaded bill that cannot be trusted (its hash differs, its archive is unreadable or incomplete)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class DayBill:
    """A day's trade bill on local disk: the detail file, decompressed, as the channel wrote it."""

    channel: str
    merchant_id: str
    day: date
    path: Path
    # SHA1 hex of the file's bytes: the same bill downloaded twice is imported once.
    sha1: str
    # Alipay's summary file (业务明细(汇总)), kept next to the detail: the fee total is only there.
    summary_path: Path | None = None


@dataclass(frozen=True)
class Order:
    """An order to place at the channel."""

    out_trade_no: str
    amount_fen: int
    description: str
    app_id: str
    # The payer's account in that app (WeChat openid, Alipay open_id or user_id).
    payer: str
    expires_at: datetime
    notify_url: str


@dataclass(frozen=True)
class Checkout:
    """The channel's answer to an order: its reference and what the front end passes to the payment sheet."""

    reference: str
    params: Mapping[str, str]


@dataclass(frozen=True)
class ChannelPayment:
    """The channel's view of an order (query)."""

    out_trade_no: str
    state: str
    amount_fen: int
    channel_trade_no: str | None = None
    paid_at: datetime | None = None


@dataclass(frozen=True)
class RefundOrder:
    """A refund to ask the channel for; the same out_refund_no on every retry."""

    out_trade_no: str
    out_refund_no: str
    amount_fen: int
    total_fen: int
    reason: str
    notify_url: str


@dataclass(frozen=True)
class ChannelRefund:
    """The channel's view of a refund."""

    out_refund_no: str
    state: str
    channel_refund_id: str | None = None
    settled_at: datetime | None = None


@dataclass(frozen=True)
class Notice:
    """A verified, decrypted notification, read into our words; the business checks are billing's."""

    kind: str  # PAYMENT_NOTICE or REFUND_NOTICE
    event_id: str
    # What makes this delivery unique (a signature's nonce and time): seen twice, it is a replay.
    delivery: str
    sent_at: datetime
    app_id: str
    merchant_id: str
    out_trade_no: str
    amount_fen: int
    currency: str
    state: str  # for a payment: PAID, FAILED, CLOSED; for a refund: REFUND_SUCCEEDED or REFUND_FAILED
    channel_trade_no: str | None = None
    at: datetime | None = None
    out_refund_no: str | None = None
    refund_fen: int | None = None
    channel_refund_id: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """The HTTP answer a channel reads as "received" or "send again"."""

    status: int
    body: bytes
    content_type: str


class PaymentGateway(Protocol):
    """One merchant's payment API at one channel."""

    name: str
    channel: str
    merchant_id: str

    def create(self, order: Order) -> Checkout:
        """Place the order; the same order again answers the same checkout."""
        ...

    def query(self, out_trade_no: str) -> ChannelPayment:
        """The channel's view of an order (NotFound-like rejections as UpstreamRejected)."""
        ...

    def close(self, out_trade_no: str) -> None:
        """Close an unpaid order; closing a closed one is fine, a paid one is UpstreamRejected("billing.order_paid")."""
        ...

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Verify the signature over the raw body and read the notification; NotificationRefused otherwise."""
        ...

    def acknowledgement(self, received: bool) -> Acknowledgement:
        """The channel's exact "received" answer, or its "send again"."""
        ...

    def refund(self, order: RefundOrder) -> ChannelRefund:
        """Ask for a refund; asking again with the same out_refund_no never refunds twice."""
        ...

    def query_refund(self, out_trade_no: str, out_refund_no: str) -> ChannelRefund:
        """The channel's view of a refund."""
        ...

    def bill(self, day: date, folder: Path) -> DayBill:
        """Download the day's trade bill into folder, verified; BillNotReady or BillRefused otherwise."""
        ...
