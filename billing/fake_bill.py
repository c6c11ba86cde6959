"""The fake channel's daily bill: its payments and refunds of one day, with fees, written as WeChat Pay writes bills.

Fees are charged as the sandbox charges them: 0.60% of a payment, rounded half up to the fen; a refund
gives back round_half_up(fee x refunded so far / total) less what earlier refunds gave back, so a full
refund gives back the whole fee. Planted differences change the bill, never the fake's orders.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import replace
from datetime import date
from datetime import datetime

from billing.bill_lines import BEIJING
from billing.bill_lines import PAYMENT
from billing.bill_lines import REFUND

EXTRA_PAYMENT, MISSING_PAYMENT, AMOUNT_DIFFERS, MISSING_REFUND, FEE = (
    "extra_payment",
    "missing_payment",
    "amount_differs",
    "missing_refund",
    "fee",
)
KINDS = (EXTRA_PAYMENT, MISSING_PAYMENT, AMOUNT_DIFFERS, MISSING_REFUND, FEE)
FEE_PER_TEN_THOUSAND = 60
EXTRA_AMOUNT_FEN = 100


@dataclass(frozen=True)
class Move:
    """One line of the fake's bill: a payment, or a refund that succeeded."""

    kind: str
    at: datetime
    app_id: str
    out_trade_no: str
    trade_no: str
    payer: str
    amount_fen: int
    fee_fen: int  # charged on a payment; minus the part given back on a refund
    out_refund_no: str | None = None


@dataclass(frozen=True)
class Difference:
    """A difference planted in one day's bill (the kinds the sandbox's bill helper plants)."""

    kind: str
    day: date
    out_trade_no: str
    amount_fen: int | None
    at: datetime


def payment_fee(amount_fen: int) -> int:
    """0.60% of a payment, rounded half up to the fen."""
    return (amount_fen * FEE_PER_TEN_THOUSAND * 2 + 10_000) // 20_000


def given_back(fee_fen: int, refunded_fen: int, total_fen: int) -> int:
    """The part of a payment's fee given back once refunded_fen of total_fen is refunded, rounded half up."""
    return (2 * fee_fen * refunded_fen + total_fen) // (2 * total_fen)


def beijing_day(moment: datetime) -> date:
    """The Beijing calendar day a moment falls on, as bills are dated."""
    return moment.astimezone(BEIJING).date()


def with_differences(moves: list[Move], differences: list[Difference], app_id: str) -> list[Move]:
    """The day's moves as the bill shows them once the planted differences are applied, in time order."""
    for kind, apply in _APPLIERS.items():  # a fixed order, as the sandbox applies them
        for difference in differences:
            if difference.kind == kind:
                moves = apply(moves, difference, app_id)
    return sorted(moves, key=lambda move: move.at)


def _add_payment(moves: list[Move], difference: Difference, app_id: str) -> list[Move]:
    amount = EXTRA_AMOUNT_FEN if difference.amount_fen is None else difference.amount_fen
    extra = Move(
        PAYMENT,
        difference.at,
        app_id,
        difference.out_trade_no,
        "ft" + secrets.token_hex(8),
        "o-nobody",
        amount,
        payment_fee(amount),
    )
    return [*moves, extra]


def _drop(kind: str) -> Callable[[list[Move], Difference, str], list[Move]]:
    return lambda moves, difference, _: [m for m in moves if not _names(m, difference, kind)]


def _change_amount(moves: list[Move], difference: Difference, _: str) -> list[Move]:
    amount = difference.amount_fen or 0
    return [
        replace(m, amount_fen=amount, fee_fen=payment_fee(amount)) if _names(m, difference, PAYMENT) else m
        for m in moves
    ]


def _change_fee(moves: list[Move], difference: Difference, _: str) -> list[Move]:
    fee = difference.amount_fen or 0
    return [replace(m, fee_fen=fee) if _names(m, difference, PAYMENT) else m for m in moves]


def _names(move: Move, difference: Difference, kind: str) -> bool:
    return move.kind == kind and move.out_trade_no == difference.out_trade_no


# kind -> how it changes the lines, applied in this order.
_APPLIERS: dict[str, Callable[[list[Move], Difference, str], list[Move]]] = {
    EXTRA_PAYMENT: _add_payment,
    MISSING_PAYMENT: _drop(PAYMENT),
    MISSING_REFUND: _drop(REFUND),
    AMOUNT_DIFFERS: _change_amount,
    FEE: _change_fee,
}

# WeChat's ALL bill: its columns, and the summary's.
COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
SUMMARY_COLUMNS = "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"


def wechat_bill_text(moves: list[Move], merchant_id: str) -> str:
    """The bill as WeChat Pay writes it: headers plain, every other cell after a backtick, CRLF line ends."""
    paid = sum(m.amount_fen for m in moves if m.kind == PAYMENT)
    refunded = sum(m.amount_fen for m in moves if m.kind == REFUND)
    totals = [str(len(moves)), yuan(paid), yuan(refunded), "0.00", yuan(sum(m.fee_fen for m in moves))]
    rows = [
        COLUMNS,
        *(_row(_cells(move, merchant_id)) for move in moves),
        SUMMARY_COLUMNS,
        _row([*totals, yuan(paid), yuan(refunded)]),
    ]
    return "\r\n".join(rows) + "\r\n"


def _cells(move: Move, merchant_id: str) -> list[str]:
    refund = move.kind == REFUND
    paid, refunded = ("0.00", yuan(move.amount_fen)) if refund else (yuan(move.amount_fen), "0.00")
    return [
        move.at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S"),
        move.app_id,
        merchant_id,
        "0",
        "",
        move.trade_no,
        move.out_trade_no,
        move.payer,
        "JSAPI",
        "REFUND" if refund else "SUCCESS",
        "OTHERS",
        "CNY",
        paid,
        "0.00",
        "fr" + (move.out_refund_no or "")[-8:] if refund else "0",
        move.out_refund_no or "0",
        refunded,
        "0.00",
        "ORIGINAL" if refund else "",
        "SUCCESS" if refund else "",
        "",
        "",
        yuan(move.fee_fen),
        "0.60%",
        paid,
        refunded,
        "",
    ]


def _row(cells: list[str]) -> str:
    return ",".join("`" + cell for cell in cells)


def yuan(fen: int) -> str:
    """Fen as yuan with two decimals: -1 -> -0.01."""
    sign = "-" if fen < 0 else ""
    return f"{sign}{abs(fen) // 100}.{abs(fen) % 100:02d}"
