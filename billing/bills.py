"""A downloaded day's bill, opened and read by its channel's reader, a line at a time."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import ExitStack
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from billing.alipay_bill import AlipayBill
from billing.bill_lines import UnreadableBill
from billing.gateway import DayBill
from billing.wechat_bill import WeChatBill
from billing.wechat_blocks import WeChatBlocks


@contextmanager
def read_bill(bill: DayBill) -> Iterator[WeChatBill | AlipayBill]:
    """The bill's reader over its open file(s), closed on the way out; UnreadableBill for a channel we cannot read."""
    reader = READERS.get(bill.channel)
    if reader is None:
        raise UnreadableBill(f"no reader for {bill.channel} bills")
    with ExitStack() as files:
        yield reader(bill, lambda path, encoding: files.enter_context(_text(path, encoding)))


def _text(path: Path, encoding: str) -> TextIO:
    # newline="" keeps each line's CRLF as written (the readers strip it): nothing is translated on the way.
    return path.open(encoding=encoding, newline="")


Opener = Callable[[Path, str], TextIO]
# Alipay writes GBK; GB 18030 reads every GBK file the same, and the few characters GBK lacks too.
GBK = "gb18030"


def _wechat(bill: DayBill, open_text: Opener) -> WeChatBill:
    # UTF-8, with a byte-order mark at the start of some merchants' files. Read as text a line at a time,
    # or from its bytes a block at a time: one or the other, never both.
    text = open_text(bill.path, "utf-8-sig")
    return WeChatBlocks(text, text.buffer)


def _alipay(bill: DayBill, open_text: Opener) -> AlipayBill:
    if bill.summary_path is None:
        raise UnreadableBill("an Alipay bill without its summary file")
    return AlipayBill(
        open_text(bill.path, GBK),
        # The gateway's merchant is the app: the bill is its seller's, for that app's trades.
        app_id=bill.merchant_id,
        merchant_id=bill.merchant_id,
        summary_lines=open_text(bill.summary_path, GBK),
    )


# channel -> how its bill files are opened and read.
READERS: dict[str, Callable[[DayBill, Opener], WeChatBill | AlipayBill]] = {
    "wechat": _wechat,
    "alipay": _alipay,
}
