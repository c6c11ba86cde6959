"""WeChat Pay v3 trade bills through wechatpayv3 2.0.4: trade_bill, download_bill, the file and its errors."""

from __future__ import annotations

import gzip
import hashlib
import json
import time
from datetime import date
from datetime import timedelta
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.sandbox.bill_clients import beijing
from tests.sandbox.bill_clients import ledger
from tests.sandbox.bill_clients import read_wechat_bill
from tests.sandbox.bill_clients import signed_get
from tests.sandbox.bill_clients import today
from tests.sandbox.bill_clients import wechat_bill
from tests.sandbox.bill_clients import wechat_paid
from tests.sandbox.bill_clients import wechat_refunded
from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import MINI_PROGRAM
from tests.sandbox.pay_clients import wechat_pay

NOWHERE = "http://127.0.0.1:9/notify"
ALL_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,退款状态,商品名称,商户数据包,"
    "手续费,费率,订单金额,申请退款金额,费率备注"
)
SUCCESS_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,商品名称,商户数据包,手续费,费率,订单金额,费率备注"
)
REFUND_COLUMNS = (
    "交易时间,公众账号ID,商户号,特约商户号,设备号,微信订单号,商户订单号,用户标识,交易类型,交易状态,付款银行,货币种类,"
    "应结订单金额,代金券金额,退款申请时间,退款成功时间,微信退款单号,商户退款单号,退款金额,充值券退款金额,退款类型,"
    "退款状态,商品名称,商户数据包,手续费,费率,订单金额,申请退款金额,费率备注"
)


def a_busy_day(sandbox: Any) -> tuple[str, str, str]:
    """Three payments (25.00, 1.75, 100.00) and three refunds (0.87 and 0.88 of the second, 40.00 of the third)."""
    first, second, third = wechat_paid(sandbox, 2500), wechat_paid(sandbox, 175), wechat_paid(sandbox, 10_000)
    wechat_refunded(sandbox, second, "RA-" + second, 87, 175)
    wechat_refunded(sandbox, second, "RB-" + second, 88, 175)
    wechat_refunded(sandbox, third, "RC-" + third, 4000, 10_000)
    return first, second, third


def expected_row(entry: dict[str, Any], amount: str, fee: str) -> dict[str, str]:
    """A detail row of the ALL bill for a ledger entry, with the amount and fee written out by hand."""
    paid = entry["kind"] == "payment"
    return {
        "交易时间": beijing(entry["at"] if paid else entry["asked_at"]),
        "公众账号ID": MINI_PROGRAM,
        "商户号": MERCHANT,
        "特约商户号": "0",
        "设备号": "",
        "微信订单号": entry["trade_no"],
        "商户订单号": entry["out_trade_no"],
        "用户标识": entry["payer"],
        "交易类型": "JSAPI",
        "交易状态": "SUCCESS" if paid else "REFUND",
        "付款银行": "OTHERS",
        "货币种类": "CNY",
        "应结订单金额": amount if paid else "0.00",
        "代金券金额": "0.00",
        "微信退款单号": "0" if paid else entry["refund_id"],
        "商户退款单号": "0" if paid else entry["out_refund_no"],
        "退款金额": "0.00" if paid else amount,
        "充值券退款金额": "0.00",
        "退款类型": "" if paid else "ORIGINAL",
        "退款状态": "" if paid else "SUCCESS",
        "商品名称": "门诊挂号费",
        "商户数据包": "",
        "手续费": fee,
        "费率": "0.60%",
        "订单金额": amount if paid else "0.00",
        "申请退款金额": "0.00" if paid else amount,
        "费率备注": "",
    }


def test_the_bill_lists_the_days_payments_and_refunds_with_fees_and_totals(bill_sandbox: Any) -> None:
    first, second, third = a_busy_day(bill_sandbox)
    entries = ledger(bill_sandbox, "wechat_pay")

    bill = wechat_bill(bill_sandbox)

    assert [(e["kind"], e["out_trade_no"]) for e in entries] == [
        ("payment", first),
        ("payment", second),
        ("payment", third),
        ("refund", second),
        ("refund", second),
        ("refund", third),
    ]
    # Fees at 0.60%, half up: 15, 1 (1.05) and 60 fen; refunds give back round(F x refunded / total) in
    # steps: 0.87 of 1.75 -> 0 of 1, all of it -> 1 (so -0.01), 40.00 of 100.00 -> 24 of 60.
    amounts_and_fees = [("25.00", "0.15"), ("1.75", "0.01"), ("100.00", "0.60")]
    amounts_and_fees += [("0.87", "0.00"), ("0.88", "-0.01"), ("40.00", "-0.24")]
    assert bill.rows == [expected_row(e, *pair) for e, pair in zip(entries, amounts_and_fees, strict=True)]
    assert ",".join(bill.columns) == ALL_COLUMNS
    assert bill.summary == {
        "总交易单数": "6",
        "应结订单总金额": "126.75",
        "退款总金额": "41.75",
        "充值券退款总金额": "0.00",
        "手续费总金额": "0.51",
        "订单总金额": "126.75",
        "申请退款总金额": "41.75",
    }
    assert (
        bill.lines[-2] == "总交易单数,应结订单总金额,退款总金额,充值券退款总金额,手续费总金额,订单总金额,申请退款总金额"
    )
    assert bill.lines[-1] == "`6,`126.75,`41.75,`0.00,`0.51,`126.75,`41.75"


def test_lines_end_with_crlf_and_the_text_is_utf8(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 100)

    bill = wechat_bill(bill_sandbox)

    assert bill.raw.endswith(b"\r\n") and bill.raw.count(b"\r\n") == bill.raw.count(b"\n") == 4
    assert bill.raw.startswith("交易时间,".encode())
    assert bill.rows[0]["手续费"] == "0.01"  # 0.6 fen rounds up


def test_the_success_bill_has_payments_only_and_the_refund_bill_refunds_only(bill_sandbox: Any) -> None:
    first, second, _ = a_busy_day(bill_sandbox)
    entries = ledger(bill_sandbox, "wechat_pay")

    success = wechat_bill(bill_sandbox, bill_type="SUCCESS")
    refunds = wechat_bill(bill_sandbox, bill_type="REFUND")

    assert ",".join(success.columns) == SUCCESS_COLUMNS
    assert [(r["商户订单号"], r["交易状态"], r["应结订单金额"], r["手续费"]) for r in success.rows] == [
        (first, "SUCCESS", "25.00", "0.15"),
        (second, "SUCCESS", "1.75", "0.01"),
        (entries[2]["out_trade_no"], "SUCCESS", "100.00", "0.60"),
    ]
    assert success.summary == {
        "总交易单数": "3",
        "应结订单总金额": "126.75",
        "手续费总金额": "0.76",
        "订单总金额": "126.75",
    }
    assert ",".join(refunds.columns) == REFUND_COLUMNS
    assert [(r["商户退款单号"], r["退款金额"], r["手续费"]) for r in refunds.rows] == [
        ("RA-" + second, "0.87", "0.00"),
        ("RB-" + second, "0.88", "-0.01"),
        (entries[5]["out_refund_no"], "40.00", "-0.24"),
    ]
    refund_entry = entries[3]
    assert refunds.rows[0]["退款申请时间"] == beijing(refund_entry["asked_at"])
    assert refunds.rows[0]["退款成功时间"] == beijing(refund_entry["at"])
    assert refunds.rows[0]["微信退款单号"] == refund_entry["refund_id"]
    assert refunds.summary == {
        "总交易单数": "3",
        "应结订单总金额": "0.00",
        "退款总金额": "41.75",
        "充值券退款总金额": "0.00",
        "手续费总金额": "-0.25",
        "订单总金额": "0.00",
        "申请退款总金额": "41.75",
    }


def test_the_bill_is_the_signing_merchants_and_todays_bill_so_far(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 300)
    before = wechat_bill(bill_sandbox)

    later = wechat_paid(bill_sandbox, 400)
    after = wechat_bill(bill_sandbox)

    assert [r["商户订单号"] for r in before.rows] == [number]
    assert [r["商户订单号"] for r in after.rows] == [number, later]
    assert {r["商户号"] for r in after.rows} == {MERCHANT}


def test_without_tar_type_the_file_is_plain_and_the_hash_is_its_sha1(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 2500)

    applied = signed_get(bill_sandbox, f"/v3/bill/tradebill?bill_date={today()}&bill_type=ALL")
    url = applied.json()["download_url"]
    downloaded = signed_get(bill_sandbox, url[len(bill_sandbox.base) :])

    assert applied.status_code == 200 and "tartype" not in url
    assert url.startswith(bill_sandbox.base + "/v3/billdownload/file?token=")
    assert downloaded.status_code == 200 and downloaded.headers["Content-Type"] == "application/octet-stream"
    assert hashlib.sha1(downloaded.content).hexdigest() == applied.json()["hash_value"]
    assert read_wechat_bill(downloaded.content).rows[0]["商户订单号"] == number


def test_the_download_is_not_signed_but_its_url_answer_is(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 2500)

    applied = signed_get(bill_sandbox, f"/v3/bill/tradebill?bill_date={today()}&tar_type=GZIP")
    url = applied.json()["download_url"]
    downloaded = signed_get(bill_sandbox, url[len(bill_sandbox.base) :])

    assert url.endswith("&tartype=gzip")  # as WeChat writes its download URLs
    assert applied.headers["Wechatpay-Signature"] and applied.headers["Wechatpay-Serial"]
    assert downloaded.status_code == 200 and "Wechatpay-Signature" not in downloaded.headers
    assert hashlib.sha1(gzip.decompress(downloaded.content)).hexdigest() == applied.json()["hash_value"]


def test_the_file_stays_as_made_while_money_keeps_moving(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 2500)
    wx = wechat_pay(bill_sandbox, NOWHERE)
    applied = json.loads(wx.trade_bill(today())[1])

    wechat_paid(bill_sandbox, 100)
    code, packed = wx.download_bill(applied["download_url"])
    again = wx.download_bill(applied["download_url"])  # the URL works until it expires

    raw = gzip.decompress(packed)
    assert code == 200 and hashlib.sha1(raw).hexdigest() == applied["hash_value"]
    assert len(read_wechat_bill(raw).rows) == 1 and again == (200, packed)


def test_a_day_without_money_has_no_bill(bill_sandbox: Any) -> None:
    wx = wechat_pay(bill_sandbox, NOWHERE)
    yesterday = (date.fromisoformat(today()) - timedelta(days=1)).isoformat()
    wechat_paid(bill_sandbox, 2500)

    for day, bill_type in ((yesterday, "ALL"), ("2001-01-01", "ALL"), (today(), "REFUND")):
        code, text = wx.trade_bill(day, bill_type=bill_type)
        assert (code, json.loads(text)) == (400, {"code": "NO_STATEMENT_EXIST", "message": "请求的账单文件不存在"})


def test_a_bill_not_made_yet_says_statement_creating_and_a_later_try_gets_it(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 2500)
    wx = wechat_pay(bill_sandbox, NOWHERE)
    armed = bill_sandbox.helper("POST", "faults", json={"target": "wechat_pay.bill", "mode": "error", "times": 2})
    assert armed.status_code == 201, armed.text

    tries = [wx.trade_bill(today()) for _ in range(3)]

    assert [(code, json.loads(text).get("code")) for code, text in tries] == [
        (400, "STATEMENT_CREATING"),
        (400, "STATEMENT_CREATING"),
        (200, None),
    ]
    assert json.loads(tries[0][1])["message"] == "账单生成中"
    assert len(wechat_bill(bill_sandbox).rows) == 1


def test_a_damaged_download_is_not_the_file_hash_value_names(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 2500)
    wx = wechat_pay(bill_sandbox, NOWHERE)
    applied = json.loads(wx.trade_bill(today())[1])
    armed = bill_sandbox.helper("POST", "faults", json={"target": "wechat_pay.bill_download", "mode": "error"})
    assert armed.status_code == 201, armed.text

    code, damaged = wx.download_bill(applied["download_url"])
    code_again, whole = wx.download_bill(applied["download_url"])  # the fault covered one download

    cut, raw = gzip.decompress(damaged), gzip.decompress(whole)
    assert (code, code_again) == (200, 200)
    assert hashlib.sha1(cut).hexdigest() != applied["hash_value"] == hashlib.sha1(raw).hexdigest()
    assert raw.startswith(cut) and raw[len(cut) :].count(b"\r\n") == 1  # the last line lost, nothing else


def test_a_download_url_expires(bill_sandbox_with: Any) -> None:
    sandbox = bill_sandbox_with(wechat_bill_url_seconds=0.3)
    wechat_paid(sandbox, 2500)
    wx = wechat_pay(sandbox, NOWHERE)
    url = json.loads(wx.trade_bill(today())[1])["download_url"]
    assert wx.download_bill(url)[0] == 200

    time.sleep(0.4)
    code, text = wx.download_bill(url)

    assert (code, json.loads(text)["code"]) == (400, "INVALID_REQUEST")


@pytest.mark.parametrize(
    "path",
    [
        "/v3/billdownload/file?token=never-issued",
        "/v3/billdownload/file?token=",
        "/v3/billdownload/file",
        "/v3/billdownload/file?token=a&token=b",
        "/v3/billdownload/file?token=a&other=1",
    ],
)
def test_an_unknown_token_is_refused_in_wechats_error_shape(bill_sandbox: Any, path: str) -> None:
    answer = signed_get(bill_sandbox, path)

    assert answer.status_code == 400 and answer.json()["code"] in ("INVALID_REQUEST", "PARAM_ERROR")
    assert answer.headers["Wechatpay-Signature"]  # errors are signed like every v3 answer


def test_bad_signatures_are_401_on_both_calls(bill_sandbox: Any) -> None:
    wechat_paid(bill_sandbox, 2500)
    url = json.loads(wechat_pay(bill_sandbox, NOWHERE).trade_bill(today())[1])["download_url"]
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )

    answers = [
        signed_get(bill_sandbox, f"/v3/bill/tradebill?bill_date={today()}", private_key=stranger.decode()),
        bill_sandbox.http.get(f"{bill_sandbox.base}/v3/bill/tradebill?bill_date={today()}", timeout=10),
        signed_get(bill_sandbox, url[len(bill_sandbox.base) :], private_key=stranger.decode()),
        bill_sandbox.http.get(url, timeout=10),
    ]

    assert [(a.status_code, a.json()["code"]) for a in answers] == [(401, "SIGN_ERROR")] * 4


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("bill_date=2024-1-01", "/bill_date"),
        ("bill_date=20240101", "/bill_date"),
        ("bill_date=2024-02-30", "/bill_date"),
        ("bill_date=2024-01-01%0A", "/bill_date"),
        ("bill_date=%EF%BC%92%EF%BC%90%EF%BC%92%EF%BC%94-01-01", "/bill_date"),  # full-width digits
        ("bill_date=", "/bill_date"),
        ("bill_type=ALL", "/bill_date"),
        ("bill_date=TODAY&bill_date=TODAY", "/bill_date"),
        ("bill_date=TOMORROW", "/bill_date"),
        ("bill_date=TODAY&bill_type=RECHARGE_REFUND", "/bill_type"),
        ("bill_date=TODAY&bill_type=all", "/bill_type"),
        ("bill_date=TODAY&tar_type=None", "/tar_type"),
        ("bill_date=TODAY&tar_type=ZIP", "/tar_type"),
        ("bill_date=TODAY&sub_mchid=1900000110", "/sub_mchid"),
    ],
)
def test_bad_bill_queries_are_param_errors(bill_sandbox: Any, query: str, field: str) -> None:
    wechat_paid(bill_sandbox, 2500)
    tomorrow = (date.fromisoformat(today()) + timedelta(days=1)).isoformat()
    query = query.replace("TOMORROW", tomorrow).replace("TODAY", today())

    answer = signed_get(bill_sandbox, "/v3/bill/tradebill?" + query)

    body = answer.json()
    assert (answer.status_code, body["code"]) == (400, "PARAM_ERROR"), body
    assert body["detail"] == {"location": "query", "field": field}
