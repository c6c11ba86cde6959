"""What the bill tests share: money moved through the real SDKs, bills fetched and read as channels.md says.

Each test gets a sandbox of its own (the bill_sandbox fixture), so a day's bill holds exactly what the test
paid and its totals can be asserted to the fen.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from datetime import datetime
from datetime import timedelta
from datetime import timezone
from typing import Any

import requests
from alipay import AliPay
from wechatpayv3 import WeChatPay
from wechatpayv3.utils import build_authorization
from wechatpayv3.utils import load_private_key

from tests.sandbox.conftest import RunningSandbox
from tests.sandbox.pay_clients import ALIPAY_APP
from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import merchant_file
from tests.sandbox.pay_clients import order_number
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import wechat_pay

BEIJING = timezone(timedelta(hours=8))
NOWHERE = "http://127.0.0.1:9/notify"  # nothing listens: notifications fail quietly
BILL_URL = "alipay.data.dataservice.bill.downloadurl.query"
SELLER = "2088721000000017"
ACCOUNT = SELLER + "0156"


def today() -> str:
    """Today in Beijing, as bills are dated."""
    return datetime.now(BEIJING).date().isoformat()


def beijing(iso: str) -> str:
    """An ISO 8601 moment (as the helpers show them) as bills write times: 2024-01-01 10:00:00."""
    return datetime.fromisoformat(iso).astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


# --- moving money ---------------------------------------------------------------------------------------


def wechat_paid(sandbox: RunningSandbox, total: int, wx: WeChatPay | None = None) -> str:
    """A WeChat Pay order of total fen, paid by a new payer (nothing delivered); its out_trade_no."""
    client = wx or wechat_pay(sandbox, NOWHERE)
    number = order_number()
    openid = sandbox.login_code()["openid"]
    code, text = client.pay("门诊挂号费", number, {"total": total, "currency": "CNY"}, payer={"openid": openid})
    assert code == 200, text
    helper_json(sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False})
    return number


def wechat_refunded(sandbox: RunningSandbox, number: str, out_refund_no: str, amount: int, total: int) -> None:
    """Refund amount fen of a paid WeChat order and wait until it has succeeded."""
    wx = wechat_pay(sandbox, NOWHERE)
    code, text = wx.refund(out_refund_no, {"refund": amount, "total": total, "currency": "CNY"}, out_trade_no=number)
    assert code == 200, text
    settled = poll(lambda: json.loads(wx.query_refund(out_refund_no)[1]), lambda r: r["status"] != "PROCESSING")
    assert settled["status"] == "SUCCESS", settled


def alipay_paid(sandbox: RunningSandbox, total: str) -> str:
    """An Alipay trade of total yuan, paid by a new buyer (nothing delivered); its out_trade_no."""
    number = order_number("AT")
    biz = {
        "out_trade_no": number,
        "total_amount": total,
        "subject": "门诊挂号费",
        "product_code": "JSAPI_PAY",
        "buyer_open_id": sandbox.auth_code()["open_id"],
        "op_app_id": ALIPAY_APP,
    }
    created = sandbox.alipay().server_api("alipay.trade.create", biz_content=biz, notify_url=NOWHERE)
    assert created["code"] == "10000", created
    helper_json(sandbox, "POST", "alipay/pay", json={"out_trade_no": number, "deliver": False})
    return number


def alipay_refunded(sandbox: RunningSandbox, number: str, out_request_no: str, amount: str) -> None:
    """Refund amount yuan of a paid Alipay trade (Alipay refunds at once)."""
    answer = sandbox.alipay().api_alipay_trade_refund(amount, out_trade_no=number, out_request_no=out_request_no)
    assert (answer["code"], answer["fund_change"]) == ("10000", "Y"), answer


def ledger(sandbox: RunningSandbox, channel: str) -> list[dict[str, Any]]:
    """The sandbox's ledger of today for channel, oldest first."""
    entries: list[dict[str, Any]] = helper_json(
        sandbox, "GET", "pay-ledger", params={"date": today(), "channel": channel}
    )["entries"]
    return entries


def plant(sandbox: RunningSandbox, status: int = 201, **body: Any) -> Any:
    """POST /_sandbox/bills/discrepancies; its JSON."""
    return helper_json(sandbox, "POST", "bills/discrepancies", status, json=body)


# --- WeChat Pay bills -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeChatBill:
    """A downloaded WeChat trade bill, read as channels.md §4.6 says to read one."""

    raw: bytes
    columns: list[str]
    rows: list[dict[str, str]]
    summary: dict[str, str]
    lines: list[str]


def wechat_bill(sandbox: RunningSandbox, day: str | None = None, **kwargs: Any) -> WeChatBill:
    """Apply for the bill and download it with wechatpayv3, check gzip and SHA1; the bill read."""
    wx = wechat_pay(sandbox, NOWHERE)
    code, text = wx.trade_bill(day or today(), **kwargs)  # the SDK checked the answer's signature
    assert code == 200, text
    applied = json.loads(text)
    assert applied["hash_type"] == "SHA1"
    code, packed = wx.download_bill(applied["download_url"])
    assert code == 200 and isinstance(packed, bytes), packed
    assert packed[:2] == b"\x1f\x8b"  # gzip, as tar_type=GZIP asked
    raw = gzip.decompress(packed)
    assert hashlib.sha1(raw).hexdigest() == applied["hash_value"]
    return read_wechat_bill(raw)


def read_wechat_bill(raw: bytes) -> WeChatBill:
    """channels.md's recipe: find the two header lines, csv-read each row, strip one leading backtick per cell."""
    lines = raw.decode("utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if "交易时间" in line)
    totals = next(i for i, line in enumerate(lines) if "总交易单数" in line)
    columns = lines[header].split(",")
    rows = [dict(zip(columns, _unticked(cells), strict=True)) for cells in csv.reader(lines[header + 1 : totals])]
    summary_columns = lines[totals].split(",")
    (summary_cells,) = list(csv.reader(lines[totals + 1 :]))
    summary = dict(zip(summary_columns, _unticked(summary_cells), strict=True))
    return WeChatBill(raw, columns, rows, summary, lines)


def _unticked(cells: list[str]) -> list[str]:
    assert all(cell.startswith("`") for cell in cells), cells
    return [cell[1:] for cell in cells]


def signed_get(sandbox: RunningSandbox, path: str, private_key: str | None = None) -> requests.Response:
    """A GET signed by hand with wechatpayv3's own build_authorization (the path exactly as sent)."""
    key = load_private_key(private_key or merchant_file(sandbox, "apiclient_key.pem"))
    authorization = build_authorization(path, "GET", MERCHANT, merchant_file(sandbox, "apiclient_serial_no"), key)
    headers = {"Authorization": authorization, "Accept": "application/json"}
    response: requests.Response = sandbox.http.get(sandbox.base + path, headers=headers, timeout=10)
    return response


# --- Alipay bills -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class AlipayBill:
    """A downloaded Alipay trade bill, read as channels.md §7.9 says to read one."""

    archive: bytes
    names: list[str]
    detail_text: str
    summary_text: str
    columns: list[str]
    rows: list[dict[str, str]]
    raw_rows: list[list[str]]
    summary: dict[str, str]


def alipay_bill_url(sandbox: RunningSandbox, day: str | None = None, client: AliPay | None = None) -> dict[str, Any]:
    """The gateway's answer to the bill URL query (python-alipay-sdk verified its signature)."""
    answer: dict[str, Any] = (client or sandbox.alipay()).server_api(
        BILL_URL, biz_content={"bill_type": "trade", "bill_date": day or today()}
    )
    return answer


def alipay_bill(sandbox: RunningSandbox, day: str | None = None) -> AlipayBill:
    """Ask for the bill URL, download it with a plain GET; the bill read."""
    answer = alipay_bill_url(sandbox, day)
    assert answer["code"] == "10000", answer
    archive = requests.get(answer["bill_download_url"], timeout=10)
    assert archive.status_code == 200, archive.text
    return read_alipay_bill(archive.content)


def read_alipay_bill(archive: bytes) -> AlipayBill:
    """channels.md's recipe: unzip with GBK names, pick the detail and summary, decode GBK, read between markers."""
    with zipfile.ZipFile(io.BytesIO(archive), metadata_encoding="gbk") as bill:
        names = bill.namelist()
        detail_name = next(n for n in names if n.endswith("业务明细.csv") and "汇总" not in n)
        summary_name = next(n for n in names if "汇总" in n)
        detail_text = bill.read(detail_name).decode("gbk")
        summary_text = bill.read(summary_name).decode("gbk")
    columns, raw_rows = _between_markers(detail_text, "业务明细列表")
    rows = [dict(zip(columns, [cell.strip("\t ") for cell in row], strict=True)) for row in raw_rows]
    summary_columns, summary_rows = _between_markers(summary_text, "业务汇总列表")
    (total,) = [row for row in summary_rows if row[0].strip() == "合计"]
    summary = dict(zip(summary_columns, [cell.strip("\t ") for cell in total], strict=True))
    return AlipayBill(archive, names, detail_text, summary_text, columns, rows, raw_rows, summary)


def _between_markers(text: str, marker: str) -> tuple[list[str], list[list[str]]]:
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if marker in line and "结束" not in line)
    end = next(i for i, line in enumerate(lines) if i > start and line.startswith("#"))
    assert marker + "结束" in lines[end]
    columns = lines[start + 1].split(",")
    return columns, list(csv.reader(lines[start + 2 : end]))
