"""Alipay's trade bill through python-alipay-sdk 3.4.0: the URL query, the zip download and the GBK files."""

from __future__ import annotations

import io
import re
import time
import zipfile
from datetime import date
from datetime import timedelta
from typing import Any

import pytest
import requests
from alipay.exceptions import AliPayException
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.bill_clients import ACCOUNT
from tests.sandbox.bill_clients import BILL_URL
from tests.sandbox.bill_clients import SELLER
from tests.sandbox.bill_clients import alipay_bill
from tests.sandbox.bill_clients import alipay_bill_url
from tests.sandbox.bill_clients import alipay_paid
from tests.sandbox.bill_clients import alipay_refunded
from tests.sandbox.bill_clients import beijing
from tests.sandbox.bill_clients import ledger
from tests.sandbox.bill_clients import today

DETAIL_COLUMNS = (
    "支付宝交易号,商户订单号,业务类型,商品名称,创建时间,完成时间,门店编号,门店名称,操作员,终端号,对方账户,订单金额（元）,"
    "商家实收（元）,支付宝红包（元）,集分宝（元）,支付宝优惠（元）,商家优惠（元）,券核销金额（元）,券名称,"
    "商家红包消费金额（元）,卡消费金额（元）,退款批次号/请求号,服务费（元）,分润（元）,备注"
)
SUMMARY_COLUMNS = (
    "门店编号,门店名称,交易订单总笔数,退款订单总笔数,订单金额（元）,商家实收（元）,支付宝优惠（元）,商家优惠（元）,"
    "卡消费金额（元）,服务费（元）,分润（元）,实收净额（元）"
)
EXPORTED = re.compile(r"#导出时间：\[[0-9]{4}年[0-9]{2}月[0-9]{2}日 [0-9]{2}:[0-9]{2}:[0-9]{2}\]")


def a_busy_day(sandbox: Any) -> tuple[str, str]:
    """Two trades (25.00 and 1.75) and three refunds (10.00 of the first, 0.87 and 0.88 of the second)."""
    first, second = alipay_paid(sandbox, "25.00"), alipay_paid(sandbox, "1.75")
    alipay_refunded(sandbox, first, "QA1", "10.00")
    alipay_refunded(sandbox, second, "QB1", "0.87")
    alipay_refunded(sandbox, second, "QB2", "0.88")
    return first, second


def expected_row(entry: dict[str, Any], amount: str, fee: str) -> dict[str, str]:
    """A detail row (cells stripped) for a ledger entry, with the signed amount and fee written out by hand."""
    payer = entry["payer"]
    return {
        "支付宝交易号": entry["trade_no"],
        "商户订单号": entry["out_trade_no"],
        "业务类型": "交易" if entry["kind"] == "payment" else "退款",
        "商品名称": "门诊挂号费",
        "创建时间": beijing(entry["ordered_at"]),
        "完成时间": beijing(entry["at"]),
        "门店编号": "",
        "门店名称": "",
        "操作员": "",
        "终端号": "",
        "对方账户": payer[:4] + "********" + payer[-4:],
        "订单金额（元）": amount,
        "商家实收（元）": amount,
        "支付宝红包（元）": "0.00",
        "集分宝（元）": "0.00",
        "支付宝优惠（元）": "0.00",
        "商家优惠（元）": "0.00",
        "券核销金额（元）": "0.00",
        "券名称": "",
        "商家红包消费金额（元）": "0.00",
        "卡消费金额（元）": "0.00",
        "退款批次号/请求号": entry["out_refund_no"] or "",
        "服务费（元）": fee,
        "分润（元）": "0.00",
        "备注": "",
    }


def chinese_day(day: date) -> str:
    return f"{day.year:04d}年{day.month:02d}月{day.day:02d}日"


def test_the_detail_lists_the_days_trades_and_refunds_with_fees_and_totals(bill_sandbox: Any) -> None:
    first, second = a_busy_day(bill_sandbox)
    entries = ledger(bill_sandbox, "alipay")

    bill = alipay_bill(bill_sandbox)

    assert [(e["kind"], e["out_trade_no"]) for e in entries] == [
        ("payment", first),
        ("payment", second),
        ("refund", first),
        ("refund", second),
        ("refund", second),
    ]
    # 服务费 at 0.60%, half up, charged on a trade (negative) and given back in proportion on a refund:
    # 10.00 of 25.00 gives back 6 of 15 fen; 0.87 of 1.75 gives back 0 of 1, and the rest 1.
    amounts_and_fees = [("25.00", "-0.15"), ("1.75", "-0.01"), ("-10.00", "0.06"), ("-0.87", "0.00"), ("-0.88", "0.01")]
    assert bill.rows == [expected_row(e, *pair) for e, pair in zip(entries, amounts_and_fees, strict=True)]
    assert ",".join(bill.columns) == DETAIL_COLUMNS
    lines = bill.detail_text.split("\r\n")
    assert lines[-5:] == [
        "#" + "-" * 41 + "业务明细列表结束" + "-" * 36,
        "#交易合计：2笔，商家实收共26.75元，商家优惠共0.00元",
        "#退款合计：3笔，商家实收退款共-11.75元，商家优惠退款共0.00元",
        lines[-2],
        "",
    ]
    assert EXPORTED.fullmatch(lines[-2])


def test_the_summary_adds_up_the_detail(bill_sandbox: Any) -> None:
    a_busy_day(bill_sandbox)

    bill = alipay_bill(bill_sandbox)

    lines = bill.summary_text.split("\r\n")
    assert lines[4] == SUMMARY_COLUMNS
    assert bill.summary == {
        "门店编号": "合计",
        "门店名称": "",
        "交易订单总笔数": "2",
        "退款订单总笔数": "3",
        "订单金额（元）": "15.00",
        "商家实收（元）": "15.00",
        "支付宝优惠（元）": "0.00",
        "商家优惠（元）": "0.00",
        "卡消费金额（元）": "0.00",
        "服务费（元）": "-0.09",
        "分润（元）": "0.00",
        "实收净额（元）": "14.91",
    }
    assert lines[0] == "#支付宝业务汇总查询" and lines[3] == "#" + "-" * 41 + "业务汇总列表" + "-" * 40
    assert lines[6] == "#" + "-" * 41 + "业务汇总列表结束" + "-" * 36 and EXPORTED.fullmatch(lines[7])


def test_the_header_lines_name_the_account_and_the_day(bill_sandbox: Any) -> None:
    alipay_paid(bill_sandbox, "25.00")
    day = date.fromisoformat(today())

    bill = alipay_bill(bill_sandbox)

    assert bill.detail_text.split("\r\n")[:4] == [
        "#支付宝业务明细查询",
        f"#账号：[{ACCOUNT}]",
        f"#起始日期：[{chinese_day(day)} 00:00:00]   终止日期：[{chinese_day(day + timedelta(days=1))} 00:00:00]",
        "#" + "-" * 41 + "业务明细列表" + "-" * 40,
    ]
    assert bill.summary_text.split("\r\n")[1:3] == bill.detail_text.split("\r\n")[1:3]


def test_entry_names_are_gbk_bytes_without_the_utf8_flag_and_contents_are_gbk(bill_sandbox: Any) -> None:
    number = alipay_paid(bill_sandbox, "25.00")
    stamp = today().replace("-", "")

    bill = alipay_bill(bill_sandbox)

    names = [f"{ACCOUNT}_{stamp}_业务明细.csv", f"{ACCOUNT}_{stamp}_业务明细(汇总).csv"]
    assert bill.names == names  # read with metadata_encoding="gbk"
    with zipfile.ZipFile(io.BytesIO(bill.archive)) as plain:  # read as the zip format says: no flag, cp437
        for entry, name in zip(plain.infolist(), names, strict=True):
            assert entry.flag_bits & 0x800 == 0
            assert entry.filename != name and entry.filename.encode("cp437") == name.encode("gbk")
            content = plain.read(entry)
            with pytest.raises(UnicodeDecodeError):
                content.decode("utf-8")
            assert content.decode("gbk").startswith("#支付宝业务") and content.count(b"\r\n") == content.count(b"\n")
    assert bill.raw_rows[0][:3] == [bill.rows[0]["支付宝交易号"] + "\t", number + "\t", "交易\t"]


def test_the_url_is_a_plain_get_of_a_zip_for_30_seconds(bill_sandbox_with: Any) -> None:
    sandbox = bill_sandbox_with(alipay_bill_url_seconds=0.3)
    alipay_paid(sandbox, "25.00")
    stamp = today().replace("-", "")

    url = alipay_bill_url(sandbox)["bill_download_url"]
    fresh = requests.get(url, timeout=10)
    time.sleep(0.4)
    stale = requests.get(url, timeout=10)

    assert url.startswith(f"{sandbox.base}/downloadBillFile.resource?bizType=trade&userId={SELLER}&fileType=csv.zip")
    assert f"&bizDates={stamp}&downloadFileName={ACCOUNT}_{stamp}.csv.zip&token=" in url
    assert fresh.status_code == 200 and fresh.content[:2] == b"PK"
    assert fresh.headers["Content-Disposition"] == f'attachment; filename="{ACCOUNT}_{stamp}.csv.zip"'
    assert stale.status_code == 404


def test_an_unknown_token_is_404(bill_sandbox: Any) -> None:
    for query in ("token=never-issued", "", "token="):
        assert bill_sandbox.http.get(f"{bill_sandbox.base}/downloadBillFile.resource?{query}").status_code == 404


def test_a_day_without_money_has_no_bill(bill_sandbox: Any) -> None:
    alipay_paid(bill_sandbox, "25.00")
    yesterday = (date.fromisoformat(today()) - timedelta(days=1)).isoformat()

    for day in (yesterday, "2001-01-01"):
        answer = alipay_bill_url(bill_sandbox, day)
        assert answer == {
            "code": "40004",
            "msg": "Business Failed",
            "sub_code": "isp.bill_not_exist",
            "sub_msg": "账单不存在",
        }


@pytest.mark.parametrize(
    "biz",
    [
        {"bill_type": "signcustomer", "bill_date": "TODAY"},
        {"bill_type": "TRADE", "bill_date": "TODAY"},
        {"bill_date": "TODAY"},
        {"bill_type": "trade"},
        {"bill_type": "trade", "bill_date": "THIS_MONTH"},
        {"bill_type": "trade", "bill_date": "TOMORROW"},
        {"bill_type": "trade", "bill_date": "2024-02-30"},
        {"bill_type": "trade", "bill_date": "2024/01/01"},
        {"bill_type": "trade", "bill_date": "2024-01-01 "},
        {"bill_type": "trade", "bill_date": "２０２４-01-01"},
        {"bill_type": "trade", "bill_date": 20240101},
        {"bill_type": ["trade"], "bill_date": "TODAY"},
    ],
)
def test_bad_input_is_invalid_arguments(bill_sandbox: Any, biz: dict[str, Any]) -> None:
    alipay_paid(bill_sandbox, "25.00")
    day = date.fromisoformat(today())
    spelled = {"TODAY": today(), "TOMORROW": (day + timedelta(days=1)).isoformat(), "THIS_MONTH": today()[:7]}
    biz = {key: spelled.get(value, value) if isinstance(value, str) else value for key, value in biz.items()}

    answer = bill_sandbox.alipay().server_api(BILL_URL, biz_content=biz)

    assert answer == {
        "code": "40004",
        "msg": "Business Failed",
        "sub_code": "isv.invalid_arguments",
        "sub_msg": "入参不合法",
    }


def test_a_bill_not_made_yet_answers_like_one_asked_too_early(bill_sandbox: Any) -> None:
    alipay_paid(bill_sandbox, "25.00")
    armed = bill_sandbox.helper("POST", "faults", json={"target": "alipay.bill", "mode": "error"})
    assert armed.status_code == 201, armed.text

    early, later = alipay_bill_url(bill_sandbox), alipay_bill_url(bill_sandbox)

    assert (early["code"], early["sub_code"], early["sub_msg"]) == ("40004", "isv.invalid_arguments", "入参不合法")
    assert later["code"] == "10000" and later["bill_download_url"]


def test_a_damaged_download_holds_the_summary_file_only(bill_sandbox: Any) -> None:
    alipay_paid(bill_sandbox, "25.00")
    url = alipay_bill_url(bill_sandbox)["bill_download_url"]
    armed = bill_sandbox.helper("POST", "faults", json={"target": "alipay.bill_download", "mode": "error"})
    assert armed.status_code == 201, armed.text

    damaged, whole = requests.get(url, timeout=10), requests.get(url, timeout=10)  # the fault covered one

    stamp = today().replace("-", "")
    with zipfile.ZipFile(io.BytesIO(damaged.content), metadata_encoding="gbk") as archive:
        assert archive.namelist() == [f"{ACCOUNT}_{stamp}_业务明细(汇总).csv"]
        left = archive.read(archive.namelist()[0])
    with zipfile.ZipFile(io.BytesIO(whole.content), metadata_encoding="gbk") as archive:
        assert len(archive.namelist()) == 2 and archive.read(f"{ACCOUNT}_{stamp}_业务明细(汇总).csv") == left
    assert damaged.status_code == whole.status_code == 200


def test_a_request_signed_with_another_key_is_refused(bill_sandbox: Any) -> None:
    alipay_paid(bill_sandbox, "25.00")
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    with pytest.raises(AliPayException) as caught:
        alipay_bill_url(bill_sandbox, client=bill_sandbox.alipay(app_private_key=stranger.decode()))

    assert "isv.invalid-signature" in str(caught.value)
