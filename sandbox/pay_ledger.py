"""The sandbox's own book of money that moved: every payment and refund that succeeded, with its time.

It is what the channels' daily bills are made from, so it keeps what a bill row needs (who paid
whom, for which order, how much, when) and answers per Beijing calendar day. Entries are only ever
added: a refund is a new entry, never a change to the payment's.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from datetime import date
from datetime import datetime

from sandbox.outbox import BEIJING

PAYMENT, REFUND = "payment", "refund"


@dataclass(frozen=True)
class LedgerEntry:
    """One movement of money between a payer and a merchant."""

    kind: str  # PAYMENT or REFUND
    channel: str  # wechat_pay or alipay
    merchant: str  # WeChat Pay mch_id, or the Alipay seller_id
    app_id: str
    out_trade_no: str
    trade_no: str  # WeChat transaction_id, or the Alipay trade_no
    payer: str  # WeChat openid, or the Alipay user_id
    amount_fen: int  # what moved in this entry (the refund's amount for a refund)
    order_total_fen: int
    at: float  # when it succeeded (Unix seconds)
    subject: str
    out_refund_no: str | None = None  # WeChat out_refund_no, or the Alipay out_request_no
    refund_id: str | None = None
    # The bills show these too: when the merchant opened the order, and when a refund was asked for.
    ordered_at: float | None = None
    asked_at: float | None = None

    @property
    def day(self) -> date:
        """The Beijing calendar day it belongs to."""
        return datetime.fromtimestamp(self.at, BEIJING).date()

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        return {
            "kind": self.kind,
            "channel": self.channel,
            "merchant": self.merchant,
            "app_id": self.app_id,
            "out_trade_no": self.out_trade_no,
            "trade_no": self.trade_no,
            "payer": self.payer,
            "amount_fen": self.amount_fen,
            "order_total_fen": self.order_total_fen,
            "subject": self.subject,
            "out_refund_no": self.out_refund_no,
            "refund_id": self.refund_id,
            "at": _moment(self.at),
            "ordered_at": _moment(self.ordered_at),
            "asked_at": _moment(self.asked_at),
        }


def _moment(at: float | None) -> str | None:
    return None if at is None else datetime.fromtimestamp(at, BEIJING).isoformat(timespec="milliseconds")


class PayLedger:
    """Every entry since start, oldest first."""

    def __init__(self) -> None:
        self._entries: list[LedgerEntry] = []
        self._lock = threading.Lock()

    def add(self, entry: LedgerEntry) -> None:
        """Book one entry."""
        with self._lock:
            self._entries.append(entry)

    def entries(self, day: date | None = None, channel: str | None = None) -> list[LedgerEntry]:
        """The entries of one Beijing day (or all), of one channel (or both), in the order they happened."""
        with self._lock:
            found = list(self._entries)
        return [e for e in found if (day is None or e.day == day) and (channel is None or e.channel == channel)]
