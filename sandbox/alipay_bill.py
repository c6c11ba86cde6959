"""Alipay's trade bill (查询对账单下载地址): a URL to a zip of two GBK CSVs, made from the sandbox's ledger.

* alipay.data.dataservice.bill.downloadurl.query, biz_content {bill_type: "trade", bill_date: "yyyy-MM-dd"}
  -> {code 10000, bill_download_url}: the bill of the calling app's seller for that Beijing day (today
  included, so far). The URL works for SandboxConfig.alipay_bill_url_seconds (30 s) with a plain GET.
  Another bill_type, a monthly or malformed bill_date, or one after today: 40004 isv.invalid_arguments
  入参不合法 (what Alipay answers). A day without a line: 40004 isp.bill_not_exist 账单不存在 (UNCONFIRMED:
  Alipay's documents name BILL_NOT_EXIST). Fault target alipay.bill, mode error: the bill is not made
  yet, answered as Alipay answers a bill asked for too early: 40004 isv.invalid_arguments 入参不合法.
* GET /downloadBillFile.resource?...&token= (no signature) -> the zip (application/octet-stream); an
  unknown or expired token: 404, text. Fault target alipay.bill_download, mode error: the zip holds the
  summary file only.

The zip holds <account>_<yyyymmdd>_业务明细.csv and <account>_<yyyymmdd>_业务明细(汇总).csv, the account
being the seller's PID followed by 0156 as on Alipay's bills. Entry names are GBK bytes without the
UTF-8 flag (read them with zipfile.ZipFile(..., metadata_encoding="gbk")), contents GBK, lines end CRLF.
Amounts are yuan with two decimals: a 退款 line is negative (商家实收 leaves the merchant) and its
服务费 positive (the fee given back), a 交易 line the other way round. Trade numbers, and the other
cells Alipay pads so spreadsheets keep them as text, end with a tab.
"""

from __future__ import annotations

import io
import time
import zipfile
from collections.abc import Callable
from datetime import date
from datetime import datetime
from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import Response
from flask import request
from flask import url_for

from sandbox.alipay_wire import AlipayError
from sandbox.bill_downloads import BillFile
from sandbox.bills import BillLine
from sandbox.bills import beijing_time
from sandbox.bills import bill_day
from sandbox.bills import lines_of_day
from sandbox.bills import yuan
from sandbox.outage import answer_down
from sandbox.outbox import BEIJING
from sandbox.pay_ledger import PAYMENT
from sandbox.pay_ledger import REFUND
from sandbox.payments import ALIPAY
from sandbox.settings import AlipayApp
from sandbox.world import World

INVALID_ARGUMENTS = ("40004", "isv.invalid_arguments", "入参不合法")
# Alipay has no code of its own for a bill not made yet: asked too early, it says the arguments are invalid.
NOT_MADE_YET = INVALID_ARGUMENTS
_ACCOUNT_SUFFIX = "0156"  # Alipay names the merchant's account (and its bill files) PID + 0156
_NEWLINE = "\r\n"
_UTF8_NAME_FLAG = 0x800
_DETAIL_START = "#" + "-" * 41 + "业务明细列表" + "-" * 40
_DETAIL_END = "#" + "-" * 41 + "业务明细列表结束" + "-" * 36
_SUMMARY_START = "#" + "-" * 41 + "业务汇总列表" + "-" * 40
_SUMMARY_END = "#" + "-" * 41 + "业务汇总列表结束" + "-" * 36

Cell = Callable[[BillLine], str]


def _signed(fen: Callable[[BillLine], int]) -> Callable[[BillLine], int]:
    # The merchant's view: what a refund takes back is negative.
    return lambda line: fen(line) if line.kind == PAYMENT else -fen(line)


_received = _signed(lambda line: line.amount_fen)


def _service_fee(line: BillLine) -> int:
    return -line.fee_fen  # charged on a trade (negative), given back on a refund (positive)


def _padded(cell: Cell) -> Cell:
    return lambda line: cell(line) + "\t"


def _fixed(text: str) -> Cell:
    return lambda line: text


def _masked(user_id: str) -> str:
    return user_id[:4] + "*" * max(len(user_id) - 8, 0) + user_id[-4:]


# Every detail column -> its cell, in Alipay's order.
_DETAIL: dict[str, Cell] = {
    "支付宝交易号": _padded(lambda line: line.trade_no),
    "商户订单号": _padded(lambda line: line.out_trade_no),
    "业务类型": _padded(lambda line: "交易" if line.kind == PAYMENT else "退款"),
    "商品名称": lambda line: line.subject,
    "创建时间": lambda line: beijing_time(line.ordered_at),
    "完成时间": lambda line: beijing_time(line.at),
    "门店编号": _fixed("\t"),
    "门店名称": _fixed("\t"),
    "操作员": _fixed("\t"),
    "终端号": _fixed("\t"),
    "对方账户": _padded(lambda line: _masked(line.payer)),
    "订单金额（元）": lambda line: yuan(_received(line)),
    "商家实收（元）": lambda line: yuan(_received(line)),
    "支付宝红包（元）": _fixed("0.00"),
    "集分宝（元）": _fixed("0.00"),
    "支付宝优惠（元）": _fixed("0.00"),
    "商家优惠（元）": _fixed("0.00"),
    "券核销金额（元）": _fixed("0.00"),
    "券名称": _fixed(""),
    "商家红包消费金额（元）": _fixed("0.00\t"),
    "卡消费金额（元）": _fixed("0.00"),
    "退款批次号/请求号": _padded(lambda line: line.out_refund_no or ""),
    "服务费（元）": lambda line: yuan(_service_fee(line)),
    "分润（元）": _fixed("0.00"),
    "备注": _fixed(""),
}


def _total(fen: Callable[[BillLine], int]) -> Callable[[list[BillLine]], str]:
    return lambda lines: yuan(sum(fen(line) for line in lines))


# Every summary column -> its value on the 合计 line; each amount adds up its detail column.
_SUMMARY: dict[str, Callable[[list[BillLine]], str]] = {
    "门店编号": lambda lines: "合计",
    "门店名称": lambda lines: "",
    "交易订单总笔数": lambda lines: str(sum(line.kind == PAYMENT for line in lines)),
    "退款订单总笔数": lambda lines: str(sum(line.kind == REFUND for line in lines)),
    "订单金额（元）": _total(_received),
    "商家实收（元）": _total(_received),
    "支付宝优惠（元）": lambda lines: "0.00",
    "商家优惠（元）": lambda lines: "0.00",
    "卡消费金额（元）": lambda lines: "0.00",
    "服务费（元）": _total(_service_fee),
    "分润（元）": lambda lines: "0.00",
    "实收净额（元）": _total(lambda line: _received(line) + _service_fee(line)),
}


class _GbkNamedEntry(zipfile.ZipInfo):
    """A zip entry whose name is written as GBK bytes without the UTF-8 flag, as Alipay's bill zips are.

    zipfile writes a non-ASCII name as UTF-8 and sets flag 0x800; readers that follow the flag would then
    not meet what Alipay's files make them handle, so the name is encoded here instead.
    """

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:
        return self.filename.encode("gbk"), self.flag_bits & ~_UTF8_NAME_FLAG


def create_alipay_bill_blueprint(world: World) -> Blueprint:
    """The bill download route (the bill URL query itself lives on the gateway, sandbox/alipay.py)."""
    bp = Blueprint("alipay_bill", __name__)

    @bp.get("/downloadBillFile.resource")
    def download() -> Response:
        effect = world.faults.take("alipay.bill_download")
        if effect is not None and effect.mode == "down":
            return answer_down(effect)
        if effect is not None and effect.mode == "slow":
            time.sleep(effect.delay_seconds)
        found = world.bill_downloads.fetch(request.args.get("token", ""), ALIPAY)
        if found is None:
            return Response("下载链接不存在或已过期", status=404, content_type="text/plain;charset=utf-8")
        damaged = effect is not None and effect.mode != "slow"
        response = Response(summary_only(found.content) if damaged else found.content, content_type=found.media_type)
        response.headers["Content-Disposition"] = f'attachment; filename="{found.file_name}"'
        return response

    return bp


def query_bill_url(world: World, app: AlipayApp, params: dict[str, str], biz: dict[str, Any]) -> dict[str, Any]:
    """alipay.data.dataservice.bill.downloadurl.query: make the seller's trade bill of that day; where to get it."""
    if biz.get("bill_type") != "trade":
        raise _invalid()
    text = biz.get("bill_date")
    try:
        day = bill_day(text if isinstance(text, str) else "")
    except ValueError:
        raise _invalid() from None
    lines = lines_of_day(world, ALIPAY, app.seller_id, day)
    if not lines:
        raise AlipayError("40004", "isp.bill_not_exist", "账单不存在")
    account, stamp = app.seller_id + _ACCOUNT_SUFFIX, day.strftime("%Y%m%d")
    file_name = f"{account}_{stamp}.csv.zip"
    token = world.bill_downloads.issue(
        BillFile(
            channel=ALIPAY,
            merchant=app.seller_id,
            content=bill_zip(lines, account, day, time.time()),
            media_type="application/octet-stream",
            file_name=file_name,
            expires_at=time.time() + world.config.alipay_bill_url_seconds,
        )
    )
    base = url_for("alipay_bill.download", _external=True)
    query = f"bizType=trade&userId={app.seller_id}&fileType=csv.zip&bizDates={stamp}"
    url = f"{base}?{query}&downloadFileName={file_name}&token={token}"
    return {"code": "10000", "msg": "Success", "bill_download_url": url}


def bill_zip(lines: list[BillLine], account: str, day: date, made_at: float) -> bytes:
    """The zip Alipay serves: the detail and the summary CSV, GBK names and GBK contents."""
    stamp = day.strftime("%Y%m%d")
    made = datetime.fromtimestamp(made_at, BEIJING)
    files = {
        f"{account}_{stamp}_业务明细.csv": detail_csv(lines, account, day, made),
        f"{account}_{stamp}_业务明细(汇总).csv": summary_csv(lines, account, day, made),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            entry = _GbkNamedEntry(name, made.timetuple()[:6])
            entry.compress_type = zipfile.ZIP_DEFLATED
            # A character GBK lacks (Alipay's subjects are GBK-safe in practice) becomes "?".
            archive.writestr(entry, text.encode("gbk", errors="replace"))
    return buffer.getvalue()


def summary_only(archive: bytes) -> bytes:
    """The bill's zip with its detail file left out: what is left is the summary."""
    with zipfile.ZipFile(io.BytesIO(archive), metadata_encoding="gbk") as source:
        kept = [(info, source.read(info)) for info in source.infolist() if "汇总" in info.filename]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as damaged:
        for info, content in kept:
            entry = _GbkNamedEntry(info.filename, info.date_time)
            entry.compress_type = zipfile.ZIP_DEFLATED
            damaged.writestr(entry, content)
    return buffer.getvalue()


def detail_csv(lines: list[BillLine], account: str, day: date, made: datetime) -> str:
    """业务明细: the header lines, one line per trade and refund, the totals and the export time."""
    trades = [line for line in lines if line.kind == PAYMENT]
    refunds = [line for line in lines if line.kind == REFUND]
    rows = [
        "#支付宝业务明细查询",
        *_heading(account, day),
        _DETAIL_START,
        ",".join(_DETAIL),
        *(",".join(cell(line) for cell in _DETAIL.values()) for line in lines),
        _DETAIL_END,
        f"#交易合计：{len(trades)}笔，商家实收共{_total(_received)(trades)}元，商家优惠共0.00元",
        f"#退款合计：{len(refunds)}笔，商家实收退款共{_total(_received)(refunds)}元，商家优惠退款共0.00元",
        _exported(made),
    ]
    return _NEWLINE.join(rows) + _NEWLINE


def summary_csv(lines: list[BillLine], account: str, day: date, made: datetime) -> str:
    """业务明细(汇总): the header lines, the columns and one 合计 line adding up the detail."""
    rows = [
        "#支付宝业务汇总查询",
        *_heading(account, day),
        _SUMMARY_START,
        ",".join(_SUMMARY),
        ",".join(total(lines) for total in _SUMMARY.values()),
        _SUMMARY_END,
        _exported(made),
    ]
    return _NEWLINE.join(rows) + _NEWLINE


def _heading(account: str, day: date) -> list[str]:
    start = datetime(day.year, day.month, day.day)
    return [
        f"#账号：[{account}]",
        f"#起始日期：[{_chinese_time(start)}]   终止日期：[{_chinese_time(start + timedelta(days=1))}]",
    ]


def _exported(made: datetime) -> str:
    return f"#导出时间：[{_chinese_time(made)}]"


def _chinese_time(moment: datetime) -> str:
    return f"{moment.year:04d}年{moment.month:02d}月{moment.day:02d}日 {moment:%H:%M:%S}"


def _invalid() -> AlipayError:
    return AlipayError(*INVALID_ARGUMENTS)
