"""Discrepancies planted in the daily bills: each kind on both channels, the ledger untouched, strict input."""

from __future__ import annotations

import json
from datetime import date
from datetime import timedelta
from typing import Any

import pytest

from tests.sandbox.bill_clients import ACCOUNT
from tests.sandbox.bill_clients import NOWHERE
from tests.sandbox.bill_clients import alipay_bill
from tests.sandbox.bill_clients import alipay_bill_url
from tests.sandbox.bill_clients import alipay_paid
from tests.sandbox.bill_clients import ledger
from tests.sandbox.bill_clients import plant
from tests.sandbox.bill_clients import today
from tests.sandbox.bill_clients import wechat_bill
from tests.sandbox.bill_clients import wechat_paid
from tests.sandbox.bill_clients import wechat_refunded
from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import MINI_PROGRAM
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import wechat_pay


def yesterday() -> str:
    return (date.fromisoformat(today()) - timedelta(days=1)).isoformat()


def wechat_cells(sandbox: Any, *names: str) -> list[tuple[str, ...]]:
    return [tuple(row[name] for name in names) for row in wechat_bill(sandbox).rows]


def test_an_extra_payment_is_a_line_for_an_order_nobody_placed(bill_sandbox: Any) -> None:
    paid = wechat_paid(bill_sandbox, 2500)
    before = ledger(bill_sandbox, "wechat_pay")

    planted = plant(bill_sandbox, channel="wechat_pay", kind="extra_payment", out_trade_no="EXTRA0001", amount_fen=1234)
    bill = wechat_bill(bill_sandbox)

    extra = planted["discrepancy"]
    assert {k: extra[k] for k in ("channel", "kind", "date", "merchant", "out_trade_no", "amount_fen")} == {
        "channel": "wechat_pay",
        "kind": "extra_payment",
        "date": today(),
        "merchant": MERCHANT,
        "out_trade_no": "EXTRA0001",
        "amount_fen": 1234,
    }
    assert [(r["商户订单号"], r["应结订单金额"], r["手续费"], r["交易状态"]) for r in bill.rows] == [
        (paid, "25.00", "0.15", "SUCCESS"),
        ("EXTRA0001", "12.34", "0.07", "SUCCESS"),  # 7.404 fen of fee
    ]
    line = bill.rows[1]
    assert (line["微信订单号"], line["用户标识"], line["公众账号ID"]) == (
        extra["trade_no"],
        extra["payer"],
        MINI_PROGRAM,
    )
    assert len(extra["trade_no"]) == 28 and extra["trade_no"].startswith("4200")
    assert (bill.summary["总交易单数"], bill.summary["应结订单总金额"], bill.summary["手续费总金额"]) == (
        "2",
        "37.34",
        "0.22",
    )
    assert ledger(bill_sandbox, "wechat_pay") == before  # the ledger stays the truth


def test_an_extra_payment_defaults_to_one_yuan_under_a_new_number(bill_sandbox: Any) -> None:
    paid = alipay_paid(bill_sandbox, "25.00")

    extra = plant(bill_sandbox, channel="alipay", kind="extra_payment")["discrepancy"]
    bill = alipay_bill(bill_sandbox)

    assert extra["amount_fen"] == 100 and extra["out_trade_no"].startswith("SBX") and extra["merchant"] == ACCOUNT[:16]
    assert [(r["商户订单号"], r["商家实收（元）"], r["服务费（元）"]) for r in bill.rows] == [
        (paid, "25.00", "-0.15"),
        (extra["out_trade_no"], "1.00", "-0.01"),
    ]
    assert bill.rows[1]["支付宝交易号"] == extra["trade_no"]
    assert "#交易合计：2笔，商家实收共26.00元，商家优惠共0.00元" in bill.detail_text.split("\r\n")
    assert (bill.summary["交易订单总笔数"], bill.summary["商家实收（元）"], bill.summary["实收净额（元）"]) == (
        "2",
        "26.00",
        "25.84",
    )


def test_a_missing_payment_leaves_the_orders_line_out(bill_sandbox: Any) -> None:
    dropped, kept = wechat_paid(bill_sandbox, 2500), wechat_paid(bill_sandbox, 300)

    plant(bill_sandbox, channel="wechat_pay", kind="missing_payment", out_trade_no=dropped)
    bill = wechat_bill(bill_sandbox)

    assert [r["商户订单号"] for r in bill.rows] == [kept]
    assert (bill.summary["总交易单数"], bill.summary["应结订单总金额"], bill.summary["手续费总金额"]) == (
        "1",
        "3.00",
        "0.02",
    )
    assert [e["out_trade_no"] for e in ledger(bill_sandbox, "wechat_pay")] == [dropped, kept]


def test_an_amount_that_differs_changes_the_line_its_fee_and_the_totals(bill_sandbox: Any) -> None:
    number = alipay_paid(bill_sandbox, "25.00")

    plant(bill_sandbox, channel="alipay", kind="amount_differs", out_trade_no=number, amount_fen=2400)
    bill = alipay_bill(bill_sandbox)

    assert [(r["订单金额（元）"], r["商家实收（元）"], r["服务费（元）"]) for r in bill.rows] == [
        ("24.00", "24.00", "-0.14")
    ]
    assert "#交易合计：1笔，商家实收共24.00元，商家优惠共0.00元" in bill.detail_text.split("\r\n")
    assert (bill.summary["订单金额（元）"], bill.summary["服务费（元）"], bill.summary["实收净额（元）"]) == (
        "24.00",
        "-0.14",
        "23.86",
    )
    assert ledger(bill_sandbox, "alipay")[0]["amount_fen"] == 2500


def test_a_missing_refund_leaves_the_orders_refund_lines_of_the_day_out(bill_sandbox: Any) -> None:
    refunded, other = wechat_paid(bill_sandbox, 175), wechat_paid(bill_sandbox, 1000)
    wechat_refunded(bill_sandbox, refunded, "RA-" + refunded, 87, 175)
    wechat_refunded(bill_sandbox, refunded, "RB-" + refunded, 88, 175)
    wechat_refunded(bill_sandbox, other, "RC-" + other, 1000, 1000)

    plant(bill_sandbox, channel="wechat_pay", kind="missing_refund", out_trade_no=refunded)
    bill = wechat_bill(bill_sandbox)

    assert [(r["商户订单号"], r["交易状态"]) for r in bill.rows] == [
        (refunded, "SUCCESS"),
        (other, "SUCCESS"),
        (other, "REFUND"),
    ]
    assert (bill.summary["总交易单数"], bill.summary["退款总金额"], bill.summary["手续费总金额"]) == (
        "3",
        "10.00",
        "0.01",
    )


@pytest.mark.parametrize(("channel", "fee", "cell"), [("wechat_pay", 0, "0.00"), ("alipay", 20, "-0.20")])
def test_a_fee_sets_the_lines_fee(bill_sandbox: Any, channel: str, fee: int, cell: str) -> None:
    number = wechat_paid(bill_sandbox, 2500) if channel == "wechat_pay" else alipay_paid(bill_sandbox, "25.00")

    plant(bill_sandbox, channel=channel, kind="fee", out_trade_no=number, amount_fen=fee)

    if channel == "wechat_pay":
        bill = wechat_bill(bill_sandbox)
        assert (bill.rows[0]["手续费"], bill.summary["手续费总金额"], bill.rows[0]["应结订单金额"]) == (
            cell,
            cell,
            "25.00",
        )
    else:
        detail = alipay_bill(bill_sandbox)
        assert (detail.rows[0]["服务费（元）"], detail.summary["服务费（元）"], detail.summary["实收净额（元）"]) == (
            cell,
            cell,
            "24.80",
        )


def test_the_kinds_apply_in_a_fixed_order_whatever_order_they_were_planted_in(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 2500)

    plant(bill_sandbox, channel="wechat_pay", kind="fee", out_trade_no=number, amount_fen=5)
    plant(bill_sandbox, channel="wechat_pay", kind="amount_differs", out_trade_no=number, amount_fen=3000)

    assert wechat_cells(bill_sandbox, "应结订单金额", "订单金额", "手续费") == [("30.00", "30.00", "0.05")]


def test_planting_the_same_kind_for_the_same_order_again_replaces_it(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 2500)

    plant(bill_sandbox, channel="wechat_pay", kind="amount_differs", out_trade_no=number, amount_fen=2400)
    plant(bill_sandbox, channel="wechat_pay", kind="amount_differs", out_trade_no=number, amount_fen=2300)

    listed = helper_json(bill_sandbox, "GET", "bills/discrepancies")["discrepancies"]
    assert [(d["kind"], d["amount_fen"]) for d in listed] == [("amount_differs", 2300)]
    assert wechat_cells(bill_sandbox, "应结订单金额") == [("23.00",)]


def test_a_bill_whose_only_line_was_left_out_does_not_exist(bill_sandbox: Any) -> None:
    wechat_number, alipay_number = wechat_paid(bill_sandbox, 2500), alipay_paid(bill_sandbox, "25.00")

    plant(bill_sandbox, channel="wechat_pay", kind="missing_payment", out_trade_no=wechat_number)
    plant(bill_sandbox, channel="alipay", kind="missing_payment", out_trade_no=alipay_number)

    code, text = wechat_pay(bill_sandbox, NOWHERE).trade_bill(today())
    assert (code, json.loads(text)["code"]) == (400, "NO_STATEMENT_EXIST")
    assert alipay_bill_url(bill_sandbox)["sub_code"] == "isp.bill_not_exist"


def test_listing_and_clearing(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 2500)
    plant(bill_sandbox, channel="wechat_pay", kind="fee", out_trade_no=number, amount_fen=1)
    plant(bill_sandbox, channel="alipay", kind="extra_payment", out_trade_no="EXTRA0002", amount_fen=500)

    listed = helper_json(bill_sandbox, "GET", "bills/discrepancies")["discrepancies"]
    cleared = helper_json(bill_sandbox, "DELETE", "bills/discrepancies")

    assert [(d["channel"], d["kind"], d["out_trade_no"], d["amount_fen"], d["date"]) for d in listed] == [
        ("wechat_pay", "fee", number, 1, today()),
        ("alipay", "extra_payment", "EXTRA0002", 500, today()),
    ]
    assert cleared == {"discrepancies": []}
    assert helper_json(bill_sandbox, "GET", "bills/discrepancies") == {"discrepancies": []}
    assert wechat_cells(bill_sandbox, "手续费") == [("0.15",)]  # the truth again
    assert alipay_bill_url(bill_sandbox)["sub_code"] == "isp.bill_not_exist"


def test_a_discrepancy_for_another_day_changes_that_days_bill_only(bill_sandbox: Any) -> None:
    number = wechat_paid(bill_sandbox, 2500)

    plant(bill_sandbox, channel="wechat_pay", kind="extra_payment", out_trade_no="EXTRA0003", date=yesterday())

    assert wechat_cells(bill_sandbox, "商户订单号") == [(number,)]
    earlier = wechat_bill(bill_sandbox, yesterday())
    assert [(r["商户订单号"], r["交易时间"], r["应结订单金额"]) for r in earlier.rows] == [
        ("EXTRA0003", yesterday() + " 12:00:00", "1.00")
    ]


def test_named_orders_must_be_in_that_days_ledger_of_the_channel(bill_sandbox: Any) -> None:
    wechat_number, alipay_number = wechat_paid(bill_sandbox, 2500), alipay_paid(bill_sandbox, "25.00")

    for body in (
        {"channel": "wechat_pay", "kind": "missing_payment", "out_trade_no": "CT0000000000"},
        {"channel": "wechat_pay", "kind": "missing_payment", "out_trade_no": alipay_number},
        {"channel": "alipay", "kind": "fee", "out_trade_no": wechat_number, "amount_fen": 1},
        {"channel": "wechat_pay", "kind": "missing_refund", "out_trade_no": wechat_number},
        {
            "channel": "wechat_pay",
            "kind": "amount_differs",
            "out_trade_no": wechat_number,
            "amount_fen": 1,
            "date": yesterday(),
        },
    ):
        error = plant(bill_sandbox, 404, **body)["error"]
        assert error["code"] == "sandbox.not_found" and list(error["details"]) == ["out_trade_no"], (body, error)
    conflict = plant(bill_sandbox, 409, channel="wechat_pay", kind="extra_payment", out_trade_no=wechat_number)
    assert conflict["error"]["code"] == "sandbox.conflict" and list(conflict["error"]["details"]) == ["out_trade_no"]
    assert helper_json(bill_sandbox, "GET", "bills/discrepancies") == {"discrepancies": []}


TOMORROW = "TOMORROW"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"channel": "cash"}, "channel"),
        ({"channel": "WECHAT_PAY"}, "channel"),
        ({"channel": None}, "channel"),
        ({"kind": "double_payment"}, "kind"),
        ({"kind": ["fee"]}, "kind"),
        ({"kind": None}, "kind"),
        ({"date": "2024-1-01"}, "date"),
        ({"date": "2024-02-30"}, "date"),
        ({"date": "2024-01-01\n"}, "date"),
        ({"date": "２０２４-01-01"}, "date"),
        ({"date": 20240101}, "date"),
        ({"date": TOMORROW}, "date"),
        ({"out_trade_no": "CT 000001"}, "out_trade_no"),
        ({"out_trade_no": "CT００００01"}, "out_trade_no"),
        ({"out_trade_no": "{CT000001}"}, "out_trade_no"),
        ({"out_trade_no": "CT000001\n"}, "out_trade_no"),
        ({"out_trade_no": "x" * 33}, "out_trade_no"),  # WeChat's out_trade_no is at most 32 characters
        ({"out_trade_no": 123456}, "out_trade_no"),
        ({"amount_fen": "100"}, "amount_fen"),
        ({"amount_fen": 1.5}, "amount_fen"),
        ({"amount_fen": True}, "amount_fen"),
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -1}, "amount_fen"),
        ({"amount_fen": 2**63}, "amount_fen"),
        ({"delay": 1}, "delay"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(bill_sandbox: Any, change: dict[str, Any], field: str) -> None:
    tomorrow = (date.fromisoformat(today()) + timedelta(days=1)).isoformat()
    body = {"channel": "wechat_pay", "kind": "extra_payment", **change}
    body = {key: tomorrow if value == TOMORROW else value for key, value in body.items()}

    error = plant(bill_sandbox, 400, **body)["error"]

    assert error["code"] == "sandbox.invalid_request" and field in error["details"], error


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "missing_payment"}, "out_trade_no"),
        ({"kind": "missing_refund"}, "out_trade_no"),
        ({"kind": "missing_payment", "out_trade_no": "ORDER", "amount_fen": 100}, "amount_fen"),
        ({"kind": "missing_refund", "out_trade_no": "ORDER", "amount_fen": 100}, "amount_fen"),
        ({"kind": "amount_differs", "out_trade_no": "ORDER"}, "amount_fen"),
        ({"kind": "amount_differs", "out_trade_no": "ORDER", "amount_fen": 2500}, "amount_fen"),  # not a difference
        ({"kind": "fee", "out_trade_no": "ORDER"}, "amount_fen"),
        ({"kind": "fee", "out_trade_no": "ORDER", "amount_fen": -1}, "amount_fen"),
    ],
)
def test_each_kind_takes_the_fields_it_needs(bill_sandbox: Any, body: dict[str, Any], field: str) -> None:
    number = wechat_paid(bill_sandbox, 2500)
    body = {"channel": "wechat_pay", **{k: number if v == "ORDER" else v for k, v in body.items()}}

    error = plant(bill_sandbox, 400, **body)["error"]

    assert error["code"] == "sandbox.invalid_request" and list(error["details"]) == [field], error


def test_the_body_must_be_a_json_object(bill_sandbox: Any) -> None:
    for data, content_type in ((b"channel=alipay", "application/x-www-form-urlencoded"), (b"[]", "application/json")):
        answer = bill_sandbox.helper("POST", "bills/discrepancies", data=data, headers={"Content-Type": content_type})
        assert answer.status_code == 400 and answer.json()["error"]["details"].keys() == {"body"}
