"""Alipay's trade API on the gateway, driven by python-alipay-sdk 3.4.0: create, query, close, refunds, faults."""

from __future__ import annotations

import urllib.error
from typing import Any

import pytest
from alipay import AliPay

from tests.sandbox.pay_clients import ALIPAY_APP
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import order_number

NOTIFY_URL = "http://127.0.0.1:9/ali/notify"  # nothing listens: deliveries fail quietly
CREATE = "alipay.trade.create"


def trade(buyer: dict[str, Any], out_trade_no: str | None = None, **overrides: Any) -> dict[str, Any]:
    """A biz_content for a mini-program trade of 25.00 yuan."""
    return {
        "out_trade_no": out_trade_no or order_number("AT"),
        "total_amount": "25.00",
        "subject": "门诊挂号费",
        "product_code": "JSAPI_PAY",
        "buyer_open_id": buyer["open_id"],
        "op_app_id": ALIPAY_APP,
        **overrides,
    }


def create(ali: AliPay, biz: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = ali.server_api(CREATE, biz_content=biz, notify_url=NOTIFY_URL)
    return answer


def open_trade(sandbox: Any, **overrides: Any) -> tuple[AliPay, dict[str, Any], dict[str, Any]]:
    """A trade waiting for its buyer: the client, the biz_content and the create answer."""
    ali = sandbox.alipay()
    biz = trade(sandbox.auth_code(), **overrides)
    created = create(ali, biz)
    assert created["code"] == "10000", created
    return ali, biz, created


def paid_trade(sandbox: Any, total: str = "25.00") -> tuple[AliPay, str]:
    ali, biz, _ = open_trade(sandbox, total_amount=total)
    helper_json(sandbox, "POST", "alipay/pay", json={"out_trade_no": biz["out_trade_no"], "deliver": False})
    return ali, biz["out_trade_no"]


def refund(ali: AliPay, out_trade_no: str, amount: str, out_request_no: str) -> dict[str, Any]:
    answer: dict[str, Any] = ali.api_alipay_trade_refund(
        amount, out_trade_no=out_trade_no, out_request_no=out_request_no
    )
    return answer


def test_create_answers_a_trade_no_and_a_repeat_the_same_one(pay_sandbox: Any) -> None:
    ali, biz, created = open_trade(pay_sandbox)

    again = create(ali, biz)
    other = create(ali, {**biz, "total_amount": "26.00"})

    assert (created["msg"], created["out_trade_no"]) == ("Success", biz["out_trade_no"])
    assert len(created["trade_no"]) == 28 and created["trade_no"].isdigit()
    assert again["trade_no"] == created["trade_no"]
    assert (other["code"], other["sub_code"]) == ("40004", "ACQ.CONTEXT_INCONSISTENT")


def test_the_sdks_own_create_helper_works_on_the_happy_path(pay_sandbox: Any) -> None:
    ali, buyer = pay_sandbox.alipay(), pay_sandbox.auth_code()
    biz = trade(buyer)

    created = ali.api_alipay_trade_create(
        biz.pop("subject"), biz.pop("out_trade_no"), biz.pop("total_amount"), notify_url=NOTIFY_URL, **biz
    )

    assert created["code"] == "10000" and created["trade_no"]


def test_a_trade_waits_for_its_buyer_then_reads_success(pay_sandbox: Any) -> None:
    ali, biz, created = open_trade(pay_sandbox, total_amount="12.30")
    waiting = ali.api_alipay_trade_query(out_trade_no=biz["out_trade_no"])

    helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": biz["out_trade_no"], "deliver": False})
    paid = ali.api_alipay_trade_query(trade_no=created["trade_no"])

    assert (waiting["code"], waiting["trade_status"], waiting["total_amount"]) == ("10000", "WAIT_BUYER_PAY", "12.30")
    assert "send_pay_date" not in waiting
    assert (paid["trade_status"], paid["buyer_pay_amount"], paid["out_trade_no"]) == (
        "TRADE_SUCCESS",
        "12.30",
        biz["out_trade_no"],
    )
    assert paid["buyer_open_id"] == biz["buyer_open_id"] and paid["send_pay_date"]
    assert paid["fund_bill_list"] == [{"fund_channel": "ALIPAYACCOUNT", "amount": "12.30"}]


def test_an_unknown_trade_is_a_signed_business_failure(pay_sandbox: Any) -> None:
    ali = pay_sandbox.alipay()

    for method in (
        lambda: ali.api_alipay_trade_query(out_trade_no=order_number()),
        lambda: ali.api_alipay_trade_close(out_trade_no=order_number()),
        lambda: refund(ali, order_number(), "1.00", "R1"),
        lambda: ali.api_alipay_trade_fastpay_refund_query("R1", out_trade_no=order_number()),
    ):
        answer = method()
        assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.TRADE_NOT_EXIST")


def test_close_ends_a_waiting_trade_only(pay_sandbox: Any) -> None:
    ali, biz, _ = open_trade(pay_sandbox)
    number = biz["out_trade_no"]

    closed = ali.api_alipay_trade_close(out_trade_no=number)
    again = ali.api_alipay_trade_close(out_trade_no=number)

    assert closed["code"] == "10000" and closed["out_trade_no"] == number
    assert again["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    assert ali.api_alipay_trade_query(out_trade_no=number)["trade_status"] == "TRADE_CLOSED"
    assert create(ali, biz)["sub_code"] == "ACQ.TRADE_HAS_CLOSE"
    assert refund(ali, number, "1.00", "R1")["sub_code"] == "ACQ.TRADE_HAS_CLOSE"
    payment = pay_sandbox.helper("POST", "alipay/pay", json={"out_trade_no": number})
    assert payment.status_code == 409 and payment.json()["error"]["code"] == "sandbox.order_closed"


def test_a_paid_trade_cannot_be_created_again_or_closed(pay_sandbox: Any) -> None:
    ali, biz, _ = open_trade(pay_sandbox)
    helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": biz["out_trade_no"], "deliver": False})

    assert create(ali, biz)["sub_code"] == "ACQ.TRADE_HAS_SUCCESS"
    assert ali.api_alipay_trade_close(out_trade_no=biz["out_trade_no"])["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    again = pay_sandbox.helper("POST", "alipay/pay", json={"out_trade_no": biz["out_trade_no"]})
    assert again.status_code == 409 and again.json()["error"]["code"] == "sandbox.already_paid"


def test_an_unpaid_trade_cannot_be_refunded(pay_sandbox: Any) -> None:
    ali, biz, _ = open_trade(pay_sandbox)

    assert refund(ali, biz["out_trade_no"], "1.00", "R1")["sub_code"] == "ACQ.TRADE_STATUS_ERROR"


def test_partial_refunds_add_up_and_a_repeat_moves_no_money(pay_sandbox: Any) -> None:
    ali, number = paid_trade(pay_sandbox)

    first = refund(ali, number, "10.00", "R1")
    repeat = refund(ali, number, "10.00", "R1")
    second = refund(ali, number, "5.50", "R2")
    over = refund(ali, number, "9.51", "R3")

    assert (first["code"], first["fund_change"], first["refund_fee"]) == ("10000", "Y", "10.00")
    assert (repeat["code"], repeat["fund_change"], repeat["refund_fee"]) == ("10000", "N", "10.00")
    assert (second["fund_change"], second["refund_fee"]) == ("Y", "15.50")
    assert (over["code"], over["sub_code"]) == ("40004", "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL")
    assert ali.api_alipay_trade_query(out_trade_no=number)["trade_status"] == "TRADE_SUCCESS"
    found = ali.api_alipay_trade_fastpay_refund_query("R2", out_trade_no=number)
    assert (found["refund_status"], found["refund_amount"], found["total_amount"]) == (
        "REFUND_SUCCESS",
        "5.50",
        "25.00",
    )
    never = ali.api_alipay_trade_fastpay_refund_query("R3", out_trade_no=number)
    assert never["code"] == "10000" and "refund_status" not in never and "refund_amount" not in never


def test_a_full_refund_closes_the_trade(pay_sandbox: Any) -> None:
    ali, number = paid_trade(pay_sandbox, "8.88")

    done = refund(ali, number, "8.88", "ALL")

    assert (done["fund_change"], done["refund_fee"]) == ("Y", "8.88")
    assert ali.api_alipay_trade_query(out_trade_no=number)["trade_status"] == "TRADE_CLOSED"
    assert refund(ali, number, "0.01", "MORE")["sub_code"] == "ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"


def test_the_same_out_request_no_for_another_amount_is_refused(pay_sandbox: Any) -> None:
    ali, number = paid_trade(pay_sandbox)
    refund(ali, number, "1.00", "R1")

    assert refund(ali, number, "2.00", "R1")["sub_code"] == "ACQ.INVALID_PARAMETER"


@pytest.mark.parametrize(
    ("outcome", "sub_code"), [("abnormal", "ACQ.BUYER_ERROR"), ("closed", "ACQ.SELLER_BALANCE_NOT_ENOUGH")]
)
def test_an_arranged_refund_failure_fails_once(pay_sandbox: Any, outcome: str, sub_code: str) -> None:
    ali, number = paid_trade(pay_sandbox)
    out_request_no = "ARR" + number
    helper_json(pay_sandbox, "POST", "refund-outcome", json={"out_refund_no": out_request_no, "outcome": outcome})

    failed = refund(ali, number, "3.00", out_request_no)
    retried = refund(ali, number, "3.00", out_request_no)

    assert (failed["code"], failed["sub_code"]) == ("40004", sub_code)
    assert (retried["code"], retried["fund_change"], retried["refund_fee"]) == ("10000", "Y", "3.00")


@pytest.mark.parametrize(
    "change",
    [
        pytest.param({"total_amount": "12.3"}, id="one-decimal"),
        pytest.param({"total_amount": 12.30}, id="a-number"),
        pytest.param({"total_amount": "0.00"}, id="zero"),
        pytest.param({"total_amount": "100000000.01"}, id="too-much"),
        pytest.param({"subject": "挂号&缴费"}, id="subject-ampersand"),
        pytest.param({"product_code": "FACE_TO_FACE_PAYMENT"}, id="product-code"),
        pytest.param({"op_app_id": "2021000000000000"}, id="op-app-id"),
        pytest.param({"buyer_open_id": "nobody-here"}, id="unknown-buyer"),
        pytest.param({"buyer_open_id": None}, id="no-buyer"),
        pytest.param({"out_trade_no": "has-a-dash"}, id="out-trade-no"),
        pytest.param({"time_expire": "tomorrow"}, id="time-expire"),
    ],
)
def test_a_malformed_trade_is_acq_invalid_parameter(pay_sandbox: Any, change: dict[str, Any]) -> None:
    biz = {key: value for key, value in trade(pay_sandbox.auth_code(), **change).items() if value is not None}

    answer = create(pay_sandbox.alipay(), biz)

    assert (answer["code"], answer["sub_code"]) == ("40004", "ACQ.INVALID_PARAMETER")


def test_a_buyer_by_user_id_and_braces_in_the_subject(pay_sandbox: Any) -> None:
    buyer = pay_sandbox.auth_code()
    ali = pay_sandbox.alipay()
    biz = trade(buyer, subject="{门诊}挂号费", buyer_id=buyer["user_id"])
    del biz["buyer_open_id"]

    created = create(ali, biz)
    found = ali.api_alipay_trade_query(out_trade_no=biz["out_trade_no"])

    assert created["code"] == "10000" and found["buyer_user_id"] == buyer["user_id"]
    view = helper_json(pay_sandbox, "GET", f"payments/{biz['out_trade_no']}")
    assert view["subject"] == "{门诊}挂号费"


def test_a_trade_past_its_timeout_is_closed(pay_sandbox: Any) -> None:
    ali, biz, _ = open_trade(pay_sandbox, time_expire="2000-01-01 00:00:00")

    assert ali.api_alipay_trade_query(out_trade_no=biz["out_trade_no"])["trade_status"] == "TRADE_CLOSED"


def test_an_error_fault_is_acq_system_error(pay_sandbox: Any, pay_faults: Any) -> None:
    ali, biz, _ = open_trade(pay_sandbox)
    assert pay_faults(target="alipay.trade_query", mode="error").status_code == 201

    failed = ali.api_alipay_trade_query(out_trade_no=biz["out_trade_no"])
    recovered = ali.api_alipay_trade_query(out_trade_no=biz["out_trade_no"])

    assert (failed["code"], failed["sub_code"]) == ("20000", "ACQ.SYSTEM_ERROR")
    assert recovered["trade_status"] == "WAIT_BUYER_PAY"


def test_a_down_refund_api_is_a_503(pay_sandbox: Any, pay_faults: Any) -> None:
    ali, number = paid_trade(pay_sandbox)
    pay_faults(target="alipay.trade_refund", mode="down")

    with pytest.raises(urllib.error.HTTPError) as caught:
        refund(ali, number, "1.00", "R1")

    assert caught.value.code == 503
    assert refund(ali, number, "1.00", "R1")["fund_change"] == "Y"  # the outage moved no money


def test_a_finished_trade_takes_no_more_refunds(pay_sandbox: Any) -> None:
    ali, number = paid_trade(pay_sandbox)
    refund(ali, number, "5.00", "BEFORE")

    finished = helper_json(pay_sandbox, "POST", "alipay/finish", json={"out_trade_no": number, "deliver": False})

    assert finished["payment"]["state"] == "TRADE_FINISHED"
    assert ali.api_alipay_trade_query(out_trade_no=number)["trade_status"] == "TRADE_FINISHED"
    assert refund(ali, number, "1.00", "AFTER")["sub_code"] == "ACQ.TRADE_HAS_FINISHED"
    assert refund(ali, number, "5.00", "BEFORE")["fund_change"] == "N"  # a repeat still answers
    assert ali.api_alipay_trade_close(out_trade_no=number)["sub_code"] == "ACQ.TRADE_STATUS_ERROR"
    again = pay_sandbox.helper("POST", "alipay/finish", json={"out_trade_no": number})
    assert again.status_code == 409 and again.json()["error"]["code"] == "sandbox.conflict"
