"""Differences planted in the channels' daily bills, so a merchant's reconciliation meets real ones.

A discrepancy changes what one day's bill of one channel says, never the ledger: the ledger stays the
truth of what moved, and the bill is made from it with the planted changes applied (sandbox/bills.py).

* extra_payment    a payment line for an order the merchant never placed
* missing_payment  the order's payment line is left out
* amount_differs   the order's payment line shows amount_fen
* missing_refund   the order's refund lines of that day are left out
* fee              the order's payment line shows a fee of amount_fen
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime

from sandbox.outbox import BEIJING

EXTRA_PAYMENT = "extra_payment"
MISSING_PAYMENT = "missing_payment"
AMOUNT_DIFFERS = "amount_differs"
MISSING_REFUND = "missing_refund"
FEE = "fee"
KINDS = (EXTRA_PAYMENT, MISSING_PAYMENT, AMOUNT_DIFFERS, MISSING_REFUND, FEE)


@dataclass(frozen=True)
class ExtraPayment:
    """What the bill shows for a payment nobody ordered: the numbers the channel would have given it."""

    trade_no: str
    app_id: str
    payer: str
    subject: str
    at: float


@dataclass(frozen=True)
class Discrepancy:
    """One planted change to the bill of one channel, merchant and Beijing day."""

    channel: str
    kind: str
    day: date
    merchant: str
    out_trade_no: str
    amount_fen: int | None
    planted_at: float
    extra: ExtraPayment | None = None  # extra_payment only

    @property
    def key(self) -> tuple[str, str, date, str, str]:
        """Planting the same kind for the same order and day again replaces the earlier one."""
        return (self.channel, self.merchant, self.day, self.kind, self.out_trade_no)

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        view: dict[str, object] = {
            "channel": self.channel,
            "kind": self.kind,
            "date": self.day.isoformat(),
            "merchant": self.merchant,
            "out_trade_no": self.out_trade_no,
            "amount_fen": self.amount_fen,
            "planted_at": datetime.fromtimestamp(self.planted_at, BEIJING).isoformat(timespec="milliseconds"),
        }
        if self.extra is not None:
            view["trade_no"] = self.extra.trade_no
            view["payer"] = self.extra.payer
        return view


@dataclass
class DiscrepancyBook:
    """Every planted discrepancy, in the order they were planted."""

    _planted: dict[tuple[str, str, date, str, str], Discrepancy] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def plant(self, discrepancy: Discrepancy) -> None:
        """Plant one, replacing the same kind for the same order, merchant and day."""
        with self._lock:
            self._planted.pop(discrepancy.key, None)
            self._planted[discrepancy.key] = discrepancy

    def planted(
        self, channel: str | None = None, merchant: str | None = None, day: date | None = None
    ) -> list[Discrepancy]:
        """The discrepancies of one channel, merchant and day (or all), oldest first."""
        with self._lock:
            found = list(self._planted.values())
        return [
            d for d in found if channel in (None, d.channel) and merchant in (None, d.merchant) and day in (None, d.day)
        ]

    def clear(self) -> None:
        """Forget every discrepancy: the bills say what the ledger says again."""
        with self._lock:
            self._planted.clear()
