"""The lines of a channel's daily bill, made from the sandbox's own ledger (and any planted discrepancies).

One line per payment and per refund that succeeded on that Beijing day, for one merchant, in the order
they happened; each channel writes them in its own file format (sandbox/wechat_bill.py,
sandbox/alipay_bill.py). Money stays integer fen here; only the writers turn it into yuan.

Fees: the merchant pays FEE_RATE (0.60%) of each payment, rounded half up to the fen. A refund gives
the fee back in proportion to what it returns, counted over all the order's refunds so that the fee
given back never exceeds the fee taken and a refund in full gives back all of it: after refunds
totalling R of an order of T whose fee was F, round_half_up(F x R / T) has been given back, and each
refund line carries its own step of that. A refund line's fee_fen is negative (money back to the merchant).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import datetime

from sandbox.bill_discrepancies import AMOUNT_DIFFERS
from sandbox.bill_discrepancies import EXTRA_PAYMENT
from sandbox.bill_discrepancies import FEE
from sandbox.bill_discrepancies import MISSING_PAYMENT
from sandbox.bill_discrepancies import MISSING_REFUND
from sandbox.bill_discrepancies import Discrepancy
from sandbox.outbox import BEIJING
from sandbox.pay_ledger import PAYMENT
from sandbox.pay_ledger import REFUND
from sandbox.pay_ledger import LedgerEntry
from sandbox.world import World

FEE_RATE = "0.60%"
_FEE_PER_TEN_THOUSAND = 60
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


@dataclass(frozen=True)
class BillLine:
    """One row of a daily bill: a payment or a refund, as the channel reports it."""

    kind: str  # PAYMENT or REFUND
    merchant: str
    app_id: str
    out_trade_no: str
    trade_no: str
    payer: str
    subject: str
    amount_fen: int  # what was paid, or what this refund returned
    fee_fen: int  # the fee charged (a payment), or minus the fee given back (a refund)
    at: float  # when it succeeded
    ordered_at: float  # when the merchant opened the order
    asked_at: float  # when the refund was asked for (a payment: when it succeeded)
    out_refund_no: str | None = None
    refund_id: str | None = None


def lines_of_day(world: World, channel: str, merchant: str, day: date) -> list[BillLine]:
    """The lines of merchant's bill on channel for day, with what was planted for it."""
    entries = world.payments.ledger.entries(channel=channel)
    return bill_lines(entries, world.bill_discrepancies.planted(channel, merchant, day), merchant, day)


def bill_day(text: str) -> date:
    """A bill date written YYYY-MM-DD, a calendar day not after today in Beijing; ValueError says what is wrong."""
    if not _ISO_DATE.fullmatch(text):
        raise ValueError("应为YYYY-MM-DD格式的日期")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError("不是有效的日期") from None
    if day > datetime.now(BEIJING).date():
        raise ValueError("不能晚于今天（北京时间）")
    return day


def bill_lines(entries: list[LedgerEntry], planted: list[Discrepancy], merchant: str, day: date) -> list[BillLine]:
    """The lines of merchant's bill for day: entries holds every ledger entry of the channel, of every day."""
    lines = [line for line in _lines_with_fees(entries) if line.merchant == merchant and _day(line.at) == day]
    for kind, apply in _APPLIERS.items():  # a fixed order, so planting order never changes the outcome
        for discrepancy in planted:
            if discrepancy.kind == kind and discrepancy.merchant == merchant and discrepancy.day == day:
                lines = apply(lines, discrepancy)
    return sorted(lines, key=lambda line: line.at)


def payment_fee(amount_fen: int) -> int:
    """The fee on a payment: FEE_RATE of it, rounded half up to the fen."""
    return (amount_fen * _FEE_PER_TEN_THOUSAND * 2 + 10_000) // 20_000


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals, with a minus sign when negative: -1 -> -0.01."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"


def beijing_time(at: float) -> str:
    """Unix seconds as bills write times, Beijing time: 2024-01-01 10:00:00."""
    return datetime.fromtimestamp(at, BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def _lines_with_fees(entries: list[LedgerEntry]) -> list[BillLine]:
    fees: dict[tuple[str, str], int] = {}  # (merchant, out_trade_no) -> the payment's fee
    refunded: dict[tuple[str, str], int] = {}  # -> refunded so far
    lines = []
    for entry in entries:
        order = (entry.merchant, entry.out_trade_no)
        if entry.kind == PAYMENT:
            fees[order] = payment_fee(entry.amount_fen)
            fee = fees[order]
        else:
            fee_taken, total = fees.get(order, payment_fee(entry.order_total_fen)), entry.order_total_fen
            before = refunded.get(order, 0)
            refunded[order] = before + entry.amount_fen
            fee = -(_share(fee_taken, refunded[order], total) - _share(fee_taken, before, total))
        lines.append(_line(entry, fee))
    return lines


def _share(fee_fen: int, refunded_fen: int, total_fen: int) -> int:
    # round_half_up(fee x refunded / total), in integers
    return (2 * fee_fen * refunded_fen + total_fen) // (2 * total_fen)


def _line(entry: LedgerEntry, fee_fen: int) -> BillLine:
    return BillLine(
        kind=entry.kind,
        merchant=entry.merchant,
        app_id=entry.app_id,
        out_trade_no=entry.out_trade_no,
        trade_no=entry.trade_no,
        payer=entry.payer,
        subject=entry.subject,
        amount_fen=entry.amount_fen,
        fee_fen=fee_fen,
        at=entry.at,
        ordered_at=entry.ordered_at if entry.ordered_at is not None else entry.at,
        asked_at=entry.asked_at if entry.asked_at is not None else entry.at,
        out_refund_no=entry.out_refund_no,
        refund_id=entry.refund_id,
    )


def _day(at: float) -> date:
    return datetime.fromtimestamp(at, BEIJING).date()


def _add_extra_payment(lines: list[BillLine], discrepancy: Discrepancy) -> list[BillLine]:
    extra, amount = discrepancy.extra, discrepancy.amount_fen or 0
    if extra is None:
        return lines
    line = BillLine(
        kind=PAYMENT,
        merchant=discrepancy.merchant,
        app_id=extra.app_id,
        out_trade_no=discrepancy.out_trade_no,
        trade_no=extra.trade_no,
        payer=extra.payer,
        subject=extra.subject,
        amount_fen=amount,
        fee_fen=payment_fee(amount),
        at=extra.at,
        ordered_at=extra.at,
        asked_at=extra.at,
    )
    return [*lines, line]


def _drop_payment(lines: list[BillLine], discrepancy: Discrepancy) -> list[BillLine]:
    return [line for line in lines if not _names(line, discrepancy, PAYMENT)]


def _drop_refunds(lines: list[BillLine], discrepancy: Discrepancy) -> list[BillLine]:
    return [line for line in lines if not _names(line, discrepancy, REFUND)]


def _change_amount(lines: list[BillLine], discrepancy: Discrepancy) -> list[BillLine]:
    # A line with another amount carries the fee of that amount, as the channel would have charged it.
    amount = discrepancy.amount_fen or 0
    return [
        replace(line, amount_fen=amount, fee_fen=payment_fee(amount)) if _names(line, discrepancy, PAYMENT) else line
        for line in lines
    ]


def _change_fee(lines: list[BillLine], discrepancy: Discrepancy) -> list[BillLine]:
    fee = discrepancy.amount_fen or 0
    return [replace(line, fee_fen=fee) if _names(line, discrepancy, PAYMENT) else line for line in lines]


def _names(line: BillLine, discrepancy: Discrepancy, kind: str) -> bool:
    return line.kind == kind and line.out_trade_no == discrepancy.out_trade_no


# kind -> how it changes the lines; applied in this order (a fee planted before an amount still wins).
_APPLIERS: dict[str, Callable[[list[BillLine], Discrepancy], list[BillLine]]] = {
    EXTRA_PAYMENT: _add_extra_payment,
    MISSING_PAYMENT: _drop_payment,
    MISSING_REFUND: _drop_refunds,
    AMOUNT_DIFFERS: _change_amount,
    FEE: _change_fee,
}
