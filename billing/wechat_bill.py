"""Reading a WeChat Pay trade bill (bill_type ALL) one line at a time: its payments and refunds in fen, its summary.

The file is text with every cell prefixed by a backtick: the detail header, one line per payment
(交易状态 SUCCESS) or refund (REFUND), the summary header (总交易单数...) and one summary line.
Columns are found by their names (a few old merchants have another layout); amounts are yuan with
two decimals (手续费 with up to five) and never go through floats; a line that cannot be read is
reported with its number and reading goes on.

A bill holds up to a million lines, nearly all of them plain payments: those are read by one
pattern over their needed cells at once (PaymentLines); any other line, a refund or one that
cannot be read, goes through the checks cell by cell, which also say what is wrong with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime

from billing.bill_lines import PAYMENT
from billing.bill_lines import REFUND
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import BillSummary
from billing.bill_lines import UnreadableBill
from billing.bill_lines import UnreadableLine
from billing.bill_lines import beijing_time
from billing.bill_lines import fee_fen
from billing.bill_lines import fen

# 交易状态 -> what the line is.
KINDS = {"SUCCESS": PAYMENT, "REFUND": REFUND}
DETAIL_MARK, SUMMARY_MARK = "交易时间", "总交易单数"
# The columns a line must have, whatever else the layout holds.
NEEDED = (
    "交易时间",
    "公众账号ID",
    "商户号",
    "微信订单号",
    "商户订单号",
    "交易状态",
    "应结订单金额",
    "商户退款单号",
    "退款金额",
    "手续费",
)
SUMMARY_NEEDED = ("总交易单数", "应结订单总金额", "退款总金额", "手续费总金额")
_COUNT = re.compile(r"[0-9]{1,9}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_NUMBER = re.compile(r"[0-9A-Za-z_|*@-]{1,64}")
# What a plain payment's needed cells hold, as _detail checks them (its amount never negative); none
# lets a backtick or a comma in, and the cells it does not need may hold anything but a backtick.
_PAYMENT_CELLS = {
    "交易状态": "SUCCESS",
    "交易时间": rf"(?P<at>{_TIME.pattern})",
    "公众账号ID": rf"(?P<app_id>{_NUMBER.pattern})",
    "商户号": rf"(?P<merchant_id>{_NUMBER.pattern})",
    "商户订单号": rf"(?P<out_trade_no>{_NUMBER.pattern})",
    "微信订单号": rf"(?P<channel_trade_no>{_NUMBER.pattern})",
    "应结订单金额": r"(?P<yuan>[0-9]{1,13})\.(?P<cents>[0-9]{2})",
    "手续费": r"(?P<fee_sign>-?)(?P<fee_yuan>[0-9]{1,13})\.(?P<fee_decimals>[0-9]{2,5})",
}
_ANY_CELL = "[^`]*"
# Distinct times kept for reuse: a busy day has several payments a second.
_TIMES_KEPT = 4096


class WeChatBill:
    """A trade bill read from its lines (decoded text, line ends included or not); entries() once, then summary."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.summary: BillSummary | None = None

    def entries(self) -> Iterator[BillLine | BadLine]:
        """Each detail line, read or refused, in the bill's order; the summary is read on the way out."""
        reading = Reading()
        for line_no, raw in enumerate(self._lines, start=1):
            entry = reading.take(line_no, raw)
            if entry is not None:
                yield entry
            if reading.done:
                self.summary = reading.summary
                return
        raise reading.cut_short()


class Reading:
    """Where a reading of the bill's lines is: before the detail header, among the details, at the summary, done."""

    def __init__(self) -> None:
        self.columns: dict[str, int] | None = None
        self.payments: PaymentLines | None = None
        self.summary_columns: dict[str, int] | None = None
        self.summary: BillSummary | None = None
        self.done = False

    def take(self, line_no: int, raw: str) -> BillLine | BadLine | None:
        """The line (line end included or not) read where the reading is: an entry, or None for a header or blank."""
        text = raw.rstrip("\r\n").lstrip("\ufeff")
        if not text:
            return None
        if self.columns is None:
            if DETAIL_MARK in text.split(","):
                self.columns = _header(text, NEEDED)
                self.payments = PaymentLines(self.columns)
                return None
            return BadLine(line_no, "text before the detail header")
        if self.summary_columns is not None:
            self.done = True
            try:
                self.summary = _summary(_cells(text, len(self.summary_columns)), self.summary_columns)
            except UnreadableLine as failure:
                return BadLine(line_no, f"summary: {failure}")
            return None
        if self.payments is not None and (payment := self.payments.read(line_no, text)) is not None:
            return payment
        if SUMMARY_MARK in text.split(","):  # a detail line's cells all start with a backtick
            self.summary_columns = _header(text, SUMMARY_NEEDED)
            return None
        return read_carefully(line_no, text, self.columns)

    @property
    def in_details(self) -> bool:
        """Past the detail header and not yet at the summary: where plain payment lines are."""
        return self.columns is not None and self.summary_columns is None

    def cut_short(self) -> UnreadableBill:
        """What a bill that ends before its summary line is."""
        return UnreadableBill("no detail header" if self.columns is None else "no summary line: the file is cut short")


def read_carefully(line_no: int, text: str, columns: dict[str, int]) -> BillLine | BadLine:
    """A detail line checked cell by cell: read, or refused with what is wrong with it."""
    try:
        return _detail(line_no, _cells(text, len(columns)), columns)
    except UnreadableLine as failure:
        return BadLine(line_no, str(failure))


class PaymentLines:
    """Plain payment lines of one layout, each read in one pattern match; None for any other line.

    The pattern is the whole line: a backtick, then the cells joined by ",`". As no cell it lets
    through holds a backtick, a line it matches splits into exactly the cells it matched.
    """

    def __init__(self, columns: dict[str, int]) -> None:
        count = len(columns)
        cells = [_ANY_CELL] * count
        for name, pattern in _PAYMENT_CELLS.items():
            if columns[name] < count:  # else the layout repeats a name and read_carefully has its say
                cells[columns[name]] = pattern
        self._line = re.compile("`" + ",`".join(cells))
        self._times: dict[str, datetime] = {}

    def read(self, line_no: int, text: str) -> BillLine | None:
        """The line as read_carefully reads it, if it is a well-formed payment; None to leave it to read_carefully."""
        found = self._line.fullmatch(text)
        if found is None:
            return None
        at_text, app_id, merchant_id, out_trade_no, channel_trade_no, yuan, cents, sign, fee_yuan, fee_decimals = (
            found.group(
                "at",
                "app_id",
                "merchant_id",
                "out_trade_no",
                "channel_trade_no",
                "yuan",
                "cents",
                "fee_sign",
                "fee_yuan",
                "fee_decimals",
            )
        )
        at = self._times.get(at_text)
        if at is None:
            try:
                at = beijing_time(at_text)
            except ValueError:
                return None
            if len(self._times) >= _TIMES_KEPT:
                self._times.clear()
            self._times[at_text] = at
        fee = (int(fee_yuan + fee_decimals.ljust(5, "0")) + 500) // 1000  # as fee_fen: from 1/1000 fen, half up
        return BillLine(
            line_no,
            PAYMENT,
            at,
            app_id,
            merchant_id,
            out_trade_no,
            channel_trade_no,
            None,
            int(yuan + cents),
            -fee if sign else fee,
        )


def _header(text: str, needed: tuple[str, ...]) -> dict[str, int]:
    names = {name: index for index, name in enumerate(text.split(","))}
    missing = [name for name in needed if name not in names]
    if missing:
        raise UnreadableBill(f"the bill has no column {', '.join(missing)}")
    return names


def _cells(text: str, count: int) -> list[str]:
    # Every cell starts with a backtick; a comma inside a product name is not followed by one.
    if not text.startswith("`"):
        raise UnreadableLine("a cell without its backtick")
    cells = text[1:].split(",`")
    if len(cells) != count:
        raise UnreadableLine(f"{len(cells)} cells where the header has {count}")
    return cells


def _detail(line_no: int, cells: list[str], columns: dict[str, int]) -> BillLine:
    def cell(name: str) -> str:
        return cells[columns[name]]

    kind = KINDS.get(cell("交易状态"))
    if kind is None:
        raise UnreadableLine(f"交易状态 {cell('交易状态')[:16]!r} is neither SUCCESS nor REFUND")
    amount = fen(cell("应结订单金额" if kind == PAYMENT else "退款金额"), "amount")
    if amount < 0:
        raise UnreadableLine("a negative amount")
    return BillLine(
        line_no=line_no,
        kind=kind,
        at=_time(cell("交易时间")),
        app_id=_number(cell("公众账号ID"), "公众账号ID"),
        merchant_id=_number(cell("商户号"), "商户号"),
        out_trade_no=_number(cell("商户订单号"), "商户订单号"),
        channel_trade_no=_number(cell("微信订单号"), "微信订单号"),
        out_refund_no=_number(cell("商户退款单号"), "商户退款单号") if kind == REFUND else None,
        amount_fen=amount,
        fee_fen=fee_fen(cell("手续费")),
    )


def _summary(cells: list[str], columns: dict[str, int]) -> BillSummary:
    count = cells[columns["总交易单数"]]
    if not _COUNT.fullmatch(count):
        raise UnreadableLine("总交易单数 is not a count")
    return BillSummary(
        count=int(count),
        paid_fen=fen(cells[columns["应结订单总金额"]], "应结订单总金额"),
        refunded_fen=fen(cells[columns["退款总金额"]], "退款总金额"),
        fee_fen=fee_fen(cells[columns["手续费总金额"]]),
    )


def _time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise UnreadableLine("交易时间 is not a time")
    try:
        return beijing_time(text)
    except ValueError as failure:
        raise UnreadableLine("交易时间 is not a time") from failure


def _number(text: str, what: str) -> str:
    if not _NUMBER.fullmatch(text):
        raise UnreadableLine(f"{what} is not an order or merchant number")
    return text
