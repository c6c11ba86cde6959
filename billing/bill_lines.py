"""What every channel's daily bill reads into: payment and refund lines in fen, bad lines, the bill's own totals.

The channel readers (billing/wechat_bill.py, billing/alipay_bill.py) turn each file format into these;
amounts in yuan text become integer fen here, never through floats.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple
from zoneinfo import ZoneInfo

BEIJING = ZoneInfo("Asia/Shanghai")
PAYMENT, REFUND = "payment", "refund"
_MONEY = re.compile(r"(-?)([0-9]{1,13})\.([0-9]{2})")
_FEE = re.compile(r"(-?)([0-9]{1,13})\.([0-9]{2,5})")


class BillLine(NamedTuple):
    """One payment or refund as the channel's bill states it, amounts in fen."""

    # A tuple rather than a frozen dataclass: a day's bill builds a million of these, and a tuple is
    # built in a quarter of the time.

    line_no: int
    kind: str
    at: datetime
    app_id: str
    merchant_id: str
    out_trade_no: str
    channel_trade_no: str
    # Set on a refund line only.
    out_refund_no: str | None
    # What was paid, or what was refunded: never negative.
    amount_fen: int
    # The channel's fee: negative on a refund (the part of the fee given back).
    fee_fen: int


@dataclass(frozen=True)
class BadLine:
    """A line the bill could not be read at, and why."""

    line_no: int
    reason: str


@dataclass(frozen=True)
class BillSummary:
    """The bill's own totals, as its summary line states them."""

    count: int
    paid_fen: int
    refunded_fen: int
    fee_fen: int


class UnreadableLine(ValueError):
    """A cell that does not hold what its column says."""


class UnreadableBill(ValueError):
    """A file that is not a whole trade bill: a header missing or a column it needs, or cut short."""


def fen(text: str, what: str) -> int:
    """Yuan with two decimals as fen: "-12.30" -> -1230."""
    found = _MONEY.fullmatch(text)
    if found is None:
        raise UnreadableLine(f"{what} is not yuan with two decimals")
    sign, whole, cents = found.groups()
    return (-1 if sign else 1) * (int(whole) * 100 + int(cents))


def fee_fen(text: str) -> int:
    """A fee in yuan with two to five decimals, as fen rounded half away from zero: "0.00550" -> 1."""
    found = _FEE.fullmatch(text)
    if found is None:
        raise UnreadableLine("手续费 is not yuan with two to five decimals")
    sign, whole, decimals = found.groups()
    digits = int(whole + decimals.ljust(5, "0"))  # in 1/1000 fen
    rounded = (digits + 500) // 1000
    return -rounded if sign else rounded


def beijing_time(text: str) -> datetime:
    """A bill's "YYYY-MM-DD HH:MM:SS" (already matched as that shape) at Beijing time; ValueError if no such time."""
    return real_time(text).replace(tzinfo=BEIJING)


def real_time(text: str) -> datetime:
    """A bill's "YYYY-MM-DD HH:MM:SS" (already matched as that shape) as a naive time; ValueError if no such time."""
    # fromisoformat reads exactly that shape, in C: strptime took a third of a big bill's reading.
    return datetime.fromisoformat(text)
