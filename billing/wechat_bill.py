"""Reading a WeChat Pay trade bill (bill_type ALL) one line at a time: its payments and refunds in fen, its summary.

The file is text with every cell prefixed by a backtick: the detail header, one line per payment
(交易状态 SUCCESS) or refund (REFUND), the summary header (总交易单数...) and one summary line.
Columns are found by their names (a few old merchants have another layout); amounts are yuan with
two decimals (手续费 with up to five) and never go through floats; a line that cannot be read is
reported with its number and reading goes on.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from collections.abc import Iterator
from datetime import datetime

from billing.bill_lines import BEIJING
from billing.bill_lines import PAYMENT
from billing.bill_lines import REFUND
from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import BillSummary
from billing.bill_lines import UnreadableBill
from billing.bill_lines import UnreadableLine
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


class WeChatBill:
    """A trade bill read from its lines (decoded text, line ends included or not); entries() once, then summary."""

    def __init__(self, lines: Iterable[str]) -> None:
        self._lines = lines
        self.summary: BillSummary | None = None

    def entries(self) -> Iterator[BillLine | BadLine]:
        """Each detail line, read or refused, in the bill's order; the summary is read on the way out."""
        columns: dict[str, int] | None = None
        summary_columns: dict[str, int] | None = None
        for line_no, raw in enumerate(self._lines, start=1):
            text = raw.rstrip("\r\n").lstrip("\ufeff")
            if not text:
                continue
            if columns is None:
                if DETAIL_MARK in text.split(","):
                    columns = _header(text, NEEDED)
                    continue
                yield BadLine(line_no, "text before the detail header")
                continue
            if summary_columns is not None:
                try:
                    self.summary = _summary(_cells(text, len(summary_columns)), summary_columns)
                except UnreadableLine as failure:
                    yield BadLine(line_no, f"summary: {failure}")
                return
            if SUMMARY_MARK in text.split(","):  # a detail line's cells all start with a backtick
                summary_columns = _header(text, SUMMARY_NEEDED)
                continue
            try:
                yield _detail(line_no, _cells(text, len(columns)), columns)
            except UnreadableLine as failure:
                yield BadLine(line_no, str(failure))
        raise UnreadableBill("no detail header" if columns is None else "no summary line: the file is cut short")


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
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=BEIJING)
    except ValueError as failure:
        raise UnreadableLine("交易时间 is not a time") from failure


def _number(text: str, what: str) -> str:
    if not _NUMBER.fullmatch(text):
        raise UnreadableLine(f"{what} is not an order or merchant number")
    return text
