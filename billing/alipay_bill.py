"""Reading an Alipay trade bill (业务明细) one line at a time: its trades and refunds in fen, its summary.

The detail file (GBK, decoded by the caller) opens with "#" lines naming the account and the day, then
the marker line (#---业务明细列表---), the column names, one line per 交易 or 退款, the end marker
(#---业务明细列表结束---) and two footer lines: #交易合计 (count and 商家实收 of the trades) and #退款合计
(of the refunds). The fee total is only in the other file of the zip, 业务明细(汇总), on its 合计 line:
the summary is both read together, and the two files must agree on counts and money.

Cells are padded with tabs and spaces so spreadsheets keep numbers as text; columns are found by
name; amounts are yuan with two decimals and never go through floats; a line that cannot be read is
reported with its number and reading goes on.
"""

from __future__ import annotations

import csv
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

# 业务类型 -> what the line is.
KINDS = {"交易": PAYMENT, "退款": REFUND}
DETAIL_MARK, SUMMARY_MARK, END = "业务明细列表", "业务汇总列表", "结束"
# 商家实收 is what moved to (or, on a refund, back from) the merchant: what the footers add up.
RECEIVED = "商家实收（元）"
FEE = "服务费（元）"
NEEDED = ("支付宝交易号", "商户订单号", "业务类型", "完成时间", RECEIVED, "退款批次号/请求号", FEE)
SUMMARY_NEEDED = ("门店编号", "交易订单总笔数", "退款订单总笔数", RECEIVED, FEE)
_PADDING = "\t "
_TRADES = re.compile(r"#交易合计：([0-9]{1,9})笔，商家实收共(-?[0-9]+\.[0-9]{2})元.*")
_REFUNDS = re.compile(r"#退款合计：([0-9]{1,9})笔，商家实收退款共(-?[0-9]+\.[0-9]{2})元.*")
_COUNT = re.compile(r"[0-9]{1,9}")
_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")
_NUMBER = re.compile(r"[0-9A-Za-z_|*@-]{1,64}")


class AlipayBill:
    """A trade bill read from its detail lines and its summary file's lines; entries() once, then summary."""

    def __init__(self, lines: Iterable[str], *, app_id: str, merchant_id: str, summary_lines: Iterable[str]) -> None:
        self._lines = lines
        self._summary_lines = summary_lines
        # Alipay's bill names neither: it is the bill of the seller the app collects for.
        self.app_id = app_id
        self.merchant_id = merchant_id
        self.summary: BillSummary | None = None

    def entries(self) -> Iterator[BillLine | BadLine]:
        """Each detail line, read or refused, in the bill's order; the summary is read on the way out."""
        columns: dict[str, int] | None = None
        marked = ended = False
        footers: dict[str, tuple[int, int]] = {}
        for line_no, raw in enumerate(self._lines, start=1):
            text = raw.rstrip("\r\n").lstrip("\ufeff")
            if not text.strip(_PADDING):
                continue
            if ended:
                footers.update(_footer(text))
            elif text.startswith("#"):
                # The title, account and dates before the list; the end marker after it.
                ended = columns is not None and DETAIL_MARK + END in text
                marked = marked or DETAIL_MARK in text
            elif columns is None and marked:
                columns = _header(text, NEEDED)
            elif columns is None:
                yield BadLine(line_no, "text before the detail list")
            else:
                try:
                    yield self._detail(line_no, _cells(text, len(columns)), columns)
                except UnreadableLine as failure:
                    yield BadLine(line_no, str(failure))
        if columns is None:
            raise UnreadableBill("no detail list header")
        if not ended:
            raise UnreadableBill("no end of the detail list: the file is cut short")
        self.summary = _summary(footers, _total_line(self._summary_lines))

    def _detail(self, line_no: int, cells: list[str], columns: dict[str, int]) -> BillLine:
        def cell(name: str) -> str:
            return cells[columns[name]]

        kind = KINDS.get(cell("业务类型"))
        if kind is None:
            raise UnreadableLine(f"业务类型 {cell('业务类型')[:16]!r} is neither 交易 nor 退款")
        received = fen(cell(RECEIVED), RECEIVED)
        # A trade brings money in, a refund takes it back out (printed negative): BillLine's amount is never negative.
        amount = received if kind == PAYMENT else -received
        if amount < 0:
            raise UnreadableLine(f"{RECEIVED} has the wrong sign for a {cell('业务类型')}")
        try:
            fee = abs(fee_fen(cell(FEE)))
        except UnreadableLine:
            raise UnreadableLine(f"{FEE} is not yuan") from None
        return BillLine(
            line_no=line_no,
            kind=kind,
            at=_time(cell("完成时间")),
            app_id=self.app_id,
            merchant_id=self.merchant_id,
            out_trade_no=_number(cell("商户订单号"), "商户订单号"),
            channel_trade_no=_number(cell("支付宝交易号"), "支付宝交易号"),
            out_refund_no=_number(cell("退款批次号/请求号"), "退款批次号/请求号") if kind == REFUND else None,
            amount_fen=amount,
            # Alipay prints 服务费 from the merchant's side (charged on a trade: negative; given back on a
            # refund: positive), yet bills exported elsewhere show it unsigned: the line's kind decides the
            # sign, as BillLine has it (positive on a payment, negative on a refund).
            fee_fen=fee if kind == PAYMENT else -fee,
        )


def _header(text: str, needed: tuple[str, ...]) -> dict[str, int]:
    names = {name: index for index, name in enumerate(_split(text))}
    missing = [name for name in needed if name not in names]
    if missing:
        raise UnreadableBill(f"the bill has no column {', '.join(missing)}")
    return names


def _split(text: str) -> list[str]:
    # csv, in case a product name is ever quoted for its comma; then the padding goes.
    return [cell.strip(_PADDING) for cell in next(csv.reader([text]))]


def _cells(text: str, count: int) -> list[str]:
    cells = _split(text)
    if len(cells) != count:
        raise UnreadableLine(f"{len(cells)} cells where the header has {count}")
    return cells


def _footer(text: str) -> dict[str, tuple[int, int]]:
    """A #交易合计 or #退款合计 line as (count, 商家实收 in fen); anything else after the list is nothing."""
    for kind, pattern in ((PAYMENT, _TRADES), (REFUND, _REFUNDS)):
        found = pattern.fullmatch(text.strip(_PADDING))
        if found is not None:
            return {kind: (int(found.group(1)), fen(found.group(2), "合计"))}
    return {}


def _total_line(lines: Iterable[str]) -> dict[str, str]:
    """The 合计 line of the summary file (业务明细(汇总)), by column name."""
    columns: dict[str, int] | None = None
    marked = False
    for raw in lines:
        text = raw.rstrip("\r\n").lstrip("\ufeff")
        if not text.strip(_PADDING):
            continue
        if text.startswith("#"):
            marked = marked or (SUMMARY_MARK in text and END not in text)
            continue
        if marked and columns is None:
            columns = _header(text, SUMMARY_NEEDED)
            continue
        if columns is not None:
            try:
                cells = _cells(text, len(columns))
            except UnreadableLine as failure:
                raise UnreadableBill(f"the summary file: {failure}") from None
            if cells[columns["门店编号"]] == "合计":
                return {name: cells[index] for name, index in columns.items()}
    raise UnreadableBill("the summary file has no 合计 line")


def _summary(footers: dict[str, tuple[int, int]], total: dict[str, str]) -> BillSummary:
    if set(footers) != {PAYMENT, REFUND}:
        raise UnreadableBill("no #交易合计 or #退款合计 line after the detail list")
    (trades, paid), (refunds, refunded) = footers[PAYMENT], footers[REFUND]
    try:
        counts = [int(total[name]) for name in ("交易订单总笔数", "退款订单总笔数") if _COUNT.fullmatch(total[name])]
        received = fen(total[RECEIVED], RECEIVED)
        fee = fee_fen(total[FEE])
    except UnreadableLine as failure:
        raise UnreadableBill(f"the summary file's 合计 line: {failure}") from None
    if counts != [trades, refunds] or received != paid + refunded:
        raise UnreadableBill("the summary file does not add up to the detail file's totals")
    # The refunds' 商家实收 total is printed negative; the 合计's 服务费 from the merchant's side.
    return BillSummary(count=trades + refunds, paid_fen=paid, refunded_fen=-refunded, fee_fen=-fee)


def _time(text: str) -> datetime:
    if not _TIME.fullmatch(text):
        raise UnreadableLine("完成时间 is not a time")
    try:
        return beijing_time(text)
    except ValueError as failure:
        raise UnreadableLine("完成时间 is not a time") from failure


def _number(text: str, what: str) -> str:
    if not _NUMBER.fullmatch(text):
        raise UnreadableLine(f"{what} is not an order or trade number")
    return text
