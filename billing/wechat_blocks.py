"""Reading a WeChat Pay bill from its file a block at a time: plain payment lines in runs, every other line as ever.

A day's bill is nearly all plain payment lines. One pattern call over a block of text (a quarter of
a megabyte, cut after its last line end) reads every line of the block: a plain payment line gives
its date, order number, amount and fee as written, with every needed cell checked as PaymentLines
checks it (the block's few distinct dates then checked once); any other line comes back empty and is
read by WeChatBill's own line reading (Reading), so it is read, numbered and refused exactly as
there. Lines are numbered as WeChatBill numbers them: a lone carriage return ends a line too.
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Generator
from collections.abc import Iterable
from collections.abc import Iterator
from operator import itemgetter
from typing import BinaryIO

from billing.bill_lines import BadLine
from billing.bill_lines import BillLine
from billing.bill_lines import real_time
from billing.wechat_bill import _PAYMENT_CELLS
from billing.wechat_bill import PaymentLines
from billing.wechat_bill import Reading
from billing.wechat_bill import WeChatBill

# Bytes read at a time: big enough that a pattern call reads a thousand lines, small enough to stay in cache.
BLOCK = 1 << 18
# The cells a plain line gives, as written: all the matching needs to pass a line that agrees with our books.
_GIVEN = {"商户订单号": "out_trade_no", "应结订单金额": "amount", "手续费": "fee"}
# A plain line's time: its date given, to be checked once per block; the time of day a real one by its
# shape (a stricter shape than PaymentLines' own: a line it refuses is read cell by cell, and refused).
_TIME = r"(?P<date>[0-9]{4}-[0-9]{2}-[0-9]{2}) (?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
_GROUP = re.compile(r"\(\?P<[A-Za-z_]+>")


class WeChatBlocks(WeChatBill):
    """A WeChat bill over its file: entries() reads it a line at a time, runs() a block at a time."""

    def __init__(self, lines: Iterable[str], raw: BinaryIO) -> None:
        super().__init__(lines)
        self._raw = raw

    def runs(self) -> Iterator[BillLine | BadLine | PlainRun]:
        """What entries() gives, in the same order, but plain payment lines in runs; the summary on the way out."""
        reading = Reading()
        yield from _read(self._raw, reading)
        self.summary = reading.summary


class PlainLines:
    """The pattern that reads a block's plain payment lines of one layout, and where it puts each given cell."""

    def __init__(self, columns: dict[str, int], payments: PaymentLines) -> None:
        cells = [r"[^`\r\n]*"] * len(columns)
        for name, pattern in _PAYMENT_CELLS.items():
            shape = _GROUP.sub("(?:", pattern)  # PaymentLines' own cell, without its groups
            cells[columns[name]] = f"(?P<{_GIVEN[name]}>{shape})" if name in _GIVEN else shape
        cells[columns["交易时间"]] = _TIME
        # Each line is matched once: whole as a plain payment (its line end left out), or else as anything.
        self.pattern = re.compile("^(?:`" + ",`".join(cells) + r"\r?|[^\n]*)$", re.MULTILINE)
        index = {name: number - 1 for name, number in self.pattern.groupindex.items()}
        self.date = itemgetter(index["date"])
        self.number = itemgetter(index["out_trade_no"])
        self.amount_and_fee = itemgetter(index["amount"], index["fee"])
        self.other = ("",) * len(index)
        self.payments = payments

    @classmethod
    def of(cls, reading: Reading) -> PlainLines | None:
        """The pattern for the reading's layout; None for a layout that names a needed column twice."""
        columns, payments = reading.columns, reading.payments
        if columns is None or payments is None or any(columns[name] >= len(columns) for name in _PAYMENT_CELLS):
            return None
        return cls(columns, payments)


class Block:
    """A block of the bill's text, whole lines only but perhaps the file's last, and its lines when asked for."""

    def __init__(self, text: str) -> None:
        self.text = text
        self._lines: list[str] | None = None

    @property
    def ends_whole(self) -> bool:
        """Whether its last line has its line end (only the file's last line may not)."""
        return self.text.endswith("\n")

    def line(self, index: int) -> str:
        """The index-th line, split at line feeds, without its line feed."""
        if self._lines is None:
            self._lines = self.text.split("\n")
        return self._lines[index]

    def raw(self, index: int, count: int) -> str:
        """The index-th of its count lines with its line feed, as the file has it."""
        return self.line(index) + ("\n" if index < count - 1 or self.ends_whole else "")


class PlainRun:
    """Consecutive plain payment lines: each one's date, out_trade_no, amount and fee as the bill writes them."""

    def __init__(self, first_line: int, cells: list[tuple[str, ...]], block: Block, offset: int, plain: PlainLines):
        self.first_line, self.cells, self._block, self._offset, self._plain = first_line, cells, block, offset, plain

    def __len__(self) -> int:
        return len(self.cells)

    def numbers(self) -> list[str]:
        """Each line's out_trade_no."""
        return list(map(self._plain.number, self.cells))

    def amounts_and_fees(self) -> list[tuple[str, str]]:
        """Each line's (应结订单金额, 手续费) as written."""
        return list(map(self._plain.amount_and_fee, self.cells))

    def line(self, index: int) -> BillLine:
        """The index-th line read whole, as WeChatBill reads it."""
        line_no = self.first_line + index
        read = self._plain.payments.read(line_no, self._block.line(self._offset + index).rstrip("\r"))
        if read is None:  # the block pattern checks what PaymentLines checks, and the time was found real
            raise AssertionError(f"line {line_no} was taken for a plain payment and is not one")
        return read


def _read(raw: BinaryIO, reading: Reading) -> Iterator[BillLine | BadLine | PlainRun]:
    line_no = 0
    plain: PlainLines | None = None
    dates = _Dates()
    for text in _texts(raw):
        if not reading.in_details:
            line_no, text = yield from _until_details(reading, line_no, text)
            if reading.done:
                return
        if not text:
            continue
        plain = plain or PlainLines.of(reading)
        if plain is None:
            line_no = yield from _one_by_one(reading, line_no, text)
            if reading.done:
                return
            continue
        block = Block(text)
        cells = plain.pattern.findall(text, 0, len(text) - block.ends_whole)
        bad = dates.unreal(set(map(plain.date, cells)))
        if not bad and plain.other not in cells:
            yield PlainRun(line_no + 1, cells, block, 0, plain)
            line_no += len(cells)
            continue
        line_no = yield from _mixed(reading, line_no, block, cells, plain, bad)
        if reading.done:
            return
    raise reading.cut_short()


def _until_details(reading: Reading, line_no: int, text: str) -> Generator[BillLine | BadLine, None, tuple[int, str]]:
    """The text's lines read one at a time until the details begin: the last line's number and the text left."""
    taken = 0
    for raw in io.StringIO(text, newline=""):
        taken += len(raw)
        line_no += 1
        entry = reading.take(line_no, raw)
        if entry is not None:
            yield entry
        if reading.done:
            return line_no, ""
        if reading.in_details:
            return line_no, text[taken:]
    return line_no, ""


def _mixed(
    reading: Reading, line_no: int, block: Block, cells: list[tuple[str, ...]], plain: PlainLines, bad: set[str]
) -> Generator[BillLine | BadLine | PlainRun, None, int]:
    """A block with other lines among its plain ones: runs between them, each other line read as ever."""
    start = 0
    for index, cell in enumerate(cells):
        if cell != plain.other and plain.date(cell) not in bad:
            continue
        if index > start:
            yield PlainRun(line_no + 1, cells[start:index], block, start, plain)
            line_no += index - start
        start = index + 1
        line_no = yield from _one_by_one(reading, line_no, block.raw(index, len(cells)))
        if reading.done:
            return line_no
        if not reading.in_details:  # at the summary: whatever follows is read as ever
            rest = "".join(block.raw(later, len(cells)) for later in range(index + 1, len(cells)))
            return (yield from _one_by_one(reading, line_no, rest))
    if start < len(cells):
        yield PlainRun(line_no + 1, cells[start:], block, start, plain)
        line_no += len(cells) - start
    return line_no


def _one_by_one(reading: Reading, line_no: int, text: str) -> Generator[BillLine | BadLine, None, int]:
    """The text's lines read one at a time, split as the file object splits them; the last line's number."""
    for raw in io.StringIO(text, newline=""):
        line_no += 1
        entry = reading.take(line_no, raw)
        if entry is not None:
            yield entry
        if reading.done:
            break
    return line_no


def _texts(raw: BinaryIO) -> Iterator[str]:
    """The file's text a block at a time, each cut after its last line feed; a byte-order mark at the start left out."""
    rest = b""
    first = True
    while chunk := raw.read(BLOCK):
        data = rest + chunk
        if first:
            data, first = data.removeprefix(codecs.BOM_UTF8), False
        cut = data.rfind(b"\n") + 1
        rest = data[cut:]
        if cut:
            yield data[:cut].decode("utf-8")
    if rest:
        yield rest.decode("utf-8")


class _Dates:
    """Which of a block's distinct dates are no real date (a 13th month), as beijing_time says; kept for reuse."""

    def __init__(self) -> None:
        self._real: set[str] = set()

    def unreal(self, dates: set[str]) -> set[str]:
        """Those of the dates (of the date's shape, or empty) that beijing_time refuses."""
        unreal = set()
        for date in dates - self._real:
            if not date:
                continue
            try:
                real_time(f"{date} 00:00:00")
            except ValueError:
                unreal.add(date)
                continue
            self._real.add(date)
        return unreal
