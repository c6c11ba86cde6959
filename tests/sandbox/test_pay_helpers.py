"""The payment helpers: the payer pays, the sandbox's view of an order, refund outcomes, the ledger, input checks."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from wechatpayv3 import WeChatPay

from tests.sandbox.pay_clients import ALIPAY_APP
from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import MINI_PROGRAM
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import order_number
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import wechat_pay

NOWHERE = "http://127.0.0.1:9/notify"


def wechat_order(sandbox: Any, notify_url: str = NOWHERE, total: int = 2500, number: str | None = None) -> WeChatPay:
    wx = wechat_pay(sandbox, notify_url)
    openid = sandbox.login_code()["openid"]
    code, text = wx.pay("门诊挂号费", number or order_number(), {"total": total}, payer={"openid": openid})
    assert code == 200, text
    return wx


def alipay_trade(sandbox: Any, number: str, total: str = "25.00") -> dict[str, Any]:
    buyer: dict[str, Any] = sandbox.auth_code()
    biz = {
        "out_trade_no": number,
        "total_amount": total,
        "subject": "门诊挂号费",
        "product_code": "JSAPI_PAY",
        "buyer_open_id": buyer["open_id"],
        "op_app_id": ALIPAY_APP,
    }
    created = sandbox.alipay().server_api("alipay.trade.create", biz_content=biz, notify_url=NOWHERE)
    assert created["code"] == "10000", created
    return buyer


def paid_wechat_order(sandbox: Any, notify_url: str = NOWHERE) -> tuple[WeChatPay, str]:
    number = order_number()
    wx = wechat_order(sandbox, notify_url, number=number)
    helper_json(sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False})
    return wx, number


def ask_refund(wx: WeChatPay, number: str, out_refund_no: str, amount: int, notify_url: str = NOWHERE) -> str:
    code, text = wx.refund(
        out_refund_no, {"refund": amount, "total": 2500, "currency": "CNY"}, out_trade_no=number, notify_url=notify_url
    )
    assert code == 200, text
    return str(json.loads(text)["status"])


def refund_status(wx: WeChatPay, out_refund_no: str) -> str:
    return str(json.loads(wx.query_refund(out_refund_no)[1])["status"])


def outcome(sandbox: Any, out_refund_no: str, decided: str, status: int = 200) -> Any:
    return helper_json(
        sandbox, "POST", "refund-outcome", status, json={"out_refund_no": out_refund_no, "outcome": decided}
    )


@pytest.mark.parametrize("path", ["wechat-pay/pay", "alipay/pay"])
@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "out_trade_no"),
        ({"out_trade_no": ""}, "out_trade_no"),
        ({"out_trade_no": "CT 123456"}, "out_trade_no"),
        ({"out_trade_no": "CT１２３４５６"}, "out_trade_no"),
        ({"out_trade_no": "{CT123456}"}, "out_trade_no"),
        ({"out_trade_no": 12345678}, "out_trade_no"),
        ({"out_trade_no": "CT123456", "outcome": "maybe"}, "outcome"),
        ({"out_trade_no": "CT123456", "deliver": "yes"}, "deliver"),
        ({"out_trade_no": "CT123456", "amount": 1}, "amount"),
    ],
)
def test_bad_pay_input_is_a_400(pay_sandbox: Any, path: str, body: dict[str, Any], field: str) -> None:
    response = pay_sandbox.helper("POST", path, json=body)

    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "sandbox.invalid_request" and field in error["details"]


def test_pay_input_must_be_declared_json(pay_sandbox: Any) -> None:
    response = pay_sandbox.helper(
        "POST", "wechat-pay/pay", data='{"out_trade_no": "CT123456"}', headers={"Content-Type": "text/plain"}
    )
    assert response.status_code == 400 and response.json()["error"]["code"] == "sandbox.invalid_request"


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("POST", "wechat-pay/pay", {"out_trade_no": "CT000000NOPE"}),
        ("POST", "alipay/pay", {"out_trade_no": "AT000000NOPE"}),
        ("GET", "payments/CT000000NOPE", None),
    ],
)
def test_unknown_orders_are_404(pay_sandbox: Any, method: str, path: str, body: Any) -> None:
    response = pay_sandbox.helper(method, path, json=body)

    assert response.status_code == 404 and response.json()["error"]["code"] == "sandbox.not_found"


def test_the_view_of_a_wechat_payment(pay_sandbox: Any) -> None:
    number = order_number()
    wechat_order(pay_sandbox, total=1500, number=number)
    before = helper_json(pay_sandbox, "GET", f"payments/{number}")

    paid = helper_json(pay_sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False})
    view = helper_json(pay_sandbox, "GET", f"payments/{number}", params={"channel": "wechat_pay"})

    assert (before["state"], before["trade_no"], before["paid_at"]) == ("NOTPAY", None, None)
    assert view == paid["payment"]
    assert (view["channel"], view["merchant"], view["app_id"], view["out_trade_no"]) == (
        "wechat_pay",
        MERCHANT,
        MINI_PROGRAM,
        number,
    )
    assert (view["amount_fen"], view["state"], view["subject"], view["refunded_fen"]) == (
        1500,
        "SUCCESS",
        "门诊挂号费",
        0,
    )
    assert len(view["trade_no"]) == 28 and view["prepay_id"].startswith("wx") and view["payer"] == before["payer"]
    assert view["paid_at"].endswith("+08:00") and view["refunds"] == [] and view["deliveries"] == []


def test_the_view_of_an_alipay_payment_and_a_failed_try(pay_sandbox: Any) -> None:
    number = order_number("AT")
    buyer = alipay_trade(pay_sandbox, number, "9.90")

    failed = helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": number, "outcome": "failed"})
    paid = helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": number, "deliver": False})

    assert failed["notification"] is None and failed["payment"]["state"] == "WAIT_BUYER_PAY"
    view = paid["payment"]
    assert (view["channel"], view["app_id"], view["amount_fen"], view["state"]) == (
        "alipay",
        ALIPAY_APP,
        990,
        "TRADE_SUCCESS",
    )
    assert (view["payer"], view["payer_open_id"]) == (buyer["user_id"], buyer["open_id"])
    assert view["merchant"] == helper_json(pay_sandbox, "GET", "credentials")["alipay"]["seller_ids"][ALIPAY_APP]


def test_a_failed_wechat_payment_can_be_tried_again(pay_sandbox: Any) -> None:
    number = order_number()
    wx = wechat_order(pay_sandbox, number=number)

    failed = helper_json(pay_sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "outcome": "failed"})
    state_after_failure = json.loads(wx.query(out_trade_no=number)[1])["trade_state"]
    paid = helper_json(pay_sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False})

    assert (failed["payment"]["state"], state_after_failure) == ("PAYERROR", "PAYERROR")
    assert paid["payment"]["state"] == "SUCCESS"


def test_one_number_on_both_channels_needs_the_channel(pay_sandbox: Any) -> None:
    number = order_number("BOTH")
    wechat_order(pay_sandbox, number=number)
    alipay_trade(pay_sandbox, number)

    ambiguous = pay_sandbox.helper("GET", f"payments/{number}")

    assert ambiguous.status_code == 400 and "channel" in ambiguous.json()["error"]["details"]
    assert helper_json(pay_sandbox, "GET", f"payments/{number}", params={"channel": "alipay"})["channel"] == "alipay"
    assert pay_sandbox.helper("GET", f"payments/{number}", params={"channel": "cash"}).status_code == 400


def test_a_refund_kept_processing_until_a_helper_decides(pay_sandbox: Any, receiver: Receiver) -> None:
    wx, number = paid_wechat_order(pay_sandbox)
    arranged = outcome(pay_sandbox, "HOLD-" + number, "processing")

    assert ask_refund(wx, number, "HOLD-" + number, 500, receiver.url()) == "PROCESSING"
    held = poll(lambda: refund_status(wx, "HOLD-" + number), lambda s: s != "PROCESSING", timeout=0.3)
    decided = outcome(pay_sandbox, "HOLD-" + number, "success")
    [got] = receiver.got(1)

    assert arranged == {"out_refund_no": "HOLD-" + number, "outcome": "processing", "arranged": True, "refunds": []}
    assert held == "PROCESSING"
    assert decided["arranged"] is False and [r["status"] for r in decided["refunds"]] == ["success"]
    assert refund_status(wx, "HOLD-" + number) == "SUCCESS"
    assert wx.callback(got.headers, got.body.decode())["event_type"] == "REFUND.SUCCESS"
    view = helper_json(pay_sandbox, "GET", f"payments/{number}")
    assert view["refunded_fen"] == 500 and view["state"] == "REFUND"
    assert [(d["kind"], d["event"]) for d in view["deliveries"]] == [("refund", "REFUND.SUCCESS")]


@pytest.mark.parametrize(
    ("decided", "status", "event"), [("abnormal", "ABNORMAL", "REFUND.ABNORMAL"), ("closed", "CLOSED", "REFUND.CLOSED")]
)
def test_an_arranged_outcome_ends_the_refund_that_way(
    pay_sandbox: Any, receiver: Receiver, decided: str, status: str, event: str
) -> None:
    wx, number = paid_wechat_order(pay_sandbox)
    outcome(pay_sandbox, "END-" + number, decided)

    ask_refund(wx, number, "END-" + number, 2500, receiver.url())
    [got] = receiver.got(1)

    callback = wx.callback(got.headers, got.body.decode())
    assert callback["event_type"] == event and callback["resource"]["refund_status"] == status
    assert "success_time" not in callback["resource"]
    assert refund_status(wx, "END-" + number) == status
    assert helper_json(pay_sandbox, "GET", f"payments/{number}")["refunded_fen"] == 0
    another = wx.refund("AGAIN-" + number, {"refund": 2500, "total": 2500, "currency": "CNY"}, out_trade_no=number)
    assert another[0] == (200 if decided == "closed" else 403)  # a closed refund gives the money back to refund


def test_deciding_a_processing_refund_ends_it_at_once(pay_sandbox: Any) -> None:
    wx, number = paid_wechat_order(pay_sandbox)
    outcome(pay_sandbox, "NOW-" + number, "processing")
    ask_refund(wx, number, "NOW-" + number, 100)

    decided = outcome(pay_sandbox, "NOW-" + number, "abnormal")
    again = outcome(pay_sandbox, "NOW-" + number, "success", status=409)

    assert [r["status"] for r in decided["refunds"]] == ["abnormal"] and refund_status(
        wx, "NOW-" + number
    ) == "ABNORMAL"
    assert again["error"]["code"] == "sandbox.conflict"


def test_a_refund_settles_by_itself_by_default(pay_sandbox: Any) -> None:
    wx, number = paid_wechat_order(pay_sandbox)

    assert ask_refund(wx, number, "AUTO-" + number, 100) == "PROCESSING"
    assert poll(lambda: refund_status(wx, "AUTO-" + number), lambda s: s != "PROCESSING") == "SUCCESS"
    late = outcome(pay_sandbox, "AUTO-" + number, "abnormal", status=409)
    assert late["error"]["code"] == "sandbox.conflict"


@pytest.mark.parametrize(
    "body",
    [
        {"out_refund_no": "R1"},
        {"outcome": "success"},
        {"out_refund_no": "R1", "outcome": "refunded"},
        {"out_refund_no": "R 1", "outcome": "success"},
        {"out_refund_no": "R1", "outcome": "success", "channel": "alipay"},
    ],
)
def test_bad_refund_outcome_input_is_a_400(pay_sandbox: Any, body: dict[str, Any]) -> None:
    response = pay_sandbox.helper("POST", "refund-outcome", json=body)
    assert response.status_code == 400 and response.json()["error"]["code"] == "sandbox.invalid_request"


def test_the_ledger_keeps_payments_and_refunds_by_day(pay_sandbox: Any) -> None:
    wx, number = paid_wechat_order(pay_sandbox)
    ask_refund(wx, number, "LEDGER-" + number, 700)
    poll(lambda: refund_status(wx, "LEDGER-" + number), lambda s: s == "SUCCESS")
    alipay_number = order_number("AT")
    alipay_trade(pay_sandbox, alipay_number, "3.00")
    helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": alipay_number, "deliver": False})
    pay_sandbox.alipay().api_alipay_trade_refund("1.00", out_trade_no=alipay_number, out_request_no="L1")
    view = helper_json(pay_sandbox, "GET", f"payments/{number}")
    day = view["paid_at"][:10]

    wechat = helper_json(pay_sandbox, "GET", "pay-ledger", params={"date": day, "channel": "wechat_pay"})["entries"]
    alipay = helper_json(pay_sandbox, "GET", "pay-ledger", params={"date": day, "channel": "alipay"})["entries"]
    elsewhere = helper_json(pay_sandbox, "GET", "pay-ledger", params={"date": "2001-01-01"})["entries"]

    mine = [e for e in wechat if e["out_trade_no"] == number]
    assert [(e["kind"], e["amount_fen"], e["order_total_fen"]) for e in mine] == [
        ("payment", 2500, 2500),
        ("refund", 700, 2500),
    ]
    assert (
        mine[0]["trade_no"] == view["trade_no"]
        and mine[0]["payer"] == view["payer"]
        and mine[0]["merchant"] == MERCHANT
    )
    assert mine[1]["out_refund_no"] == "LEDGER-" + number and mine[1]["refund_id"] and mine[1]["at"] >= mine[0]["at"]
    theirs = [e for e in alipay if e["out_trade_no"] == alipay_number]
    assert [(e["kind"], e["amount_fen"], e["out_refund_no"]) for e in theirs] == [
        ("payment", 300, None),
        ("refund", 100, "L1"),
    ]
    assert all(e["channel"] == "wechat_pay" for e in wechat) and elsewhere == []


@pytest.mark.parametrize("query", [{"date": "2024-02-30"}, {"date": "20240101"}, {"channel": "cash"}])
def test_bad_ledger_queries_are_400(pay_sandbox: Any, query: dict[str, str]) -> None:
    assert pay_sandbox.helper("GET", "pay-ledger", params=query).status_code == 400


def test_the_pay_fault_targets_are_listed_and_take_no_rate_limit(pay_sandbox: Any, pay_faults: Any) -> None:
    targets = helper_json(pay_sandbox, "GET", "faults")["targets"]

    assert {"wechat_pay.order", "wechat_pay.query", "wechat_pay.close", "wechat_pay.refund"} <= targets.keys()
    assert {"alipay.trade_create", "alipay.trade_query", "alipay.trade_close", "alipay.trade_refund"} <= targets.keys()
    assert pay_faults(target="wechat_pay.order", mode="rate_limit").status_code == 400


def test_concurrent_payers_pay_an_order_once(pay_sandbox: Any) -> None:
    number = order_number()
    wechat_order(pay_sandbox, number=number)

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(
            pool.map(
                lambda _: pay_sandbox.helper("POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False}),
                range(8),
            )
        )

    assert sorted(a.status_code for a in answers) == [200] + [409] * 7
    day = next(a for a in answers if a.status_code == 200).json()["payment"]["paid_at"]
    entries = helper_json(pay_sandbox, "GET", "pay-ledger", params={"date": day[:10]})["entries"]
    assert [e["kind"] for e in entries if e["out_trade_no"] == number] == ["payment"]


def test_concurrent_refunds_never_return_more_than_was_paid(pay_sandbox: Any) -> None:
    number = order_number("AT")
    alipay_trade(pay_sandbox, number, "25.00")
    helper_json(pay_sandbox, "POST", "alipay/pay", json={"out_trade_no": number, "deliver": False})
    ali = pay_sandbox.alipay()

    with ThreadPoolExecutor(max_workers=10) as pool:
        answers = list(
            pool.map(
                lambda i: ali.api_alipay_trade_refund("5.00", out_trade_no=number, out_request_no=f"C{i}"), range(10)
            )
        )

    assert (
        sorted(a.get("fund_change", a.get("sub_code")) for a in answers)
        == ["ACQ.REFUND_AMT_NOT_EQUAL_TOTAL"] * 5 + ["Y"] * 5
    )
    assert helper_json(pay_sandbox, "GET", f"payments/{number}")["refunded_fen"] == 2500
