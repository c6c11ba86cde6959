"""Payment and refund notifications reach the merchant, verify with the real SDKs, and retry until acknowledged."""

from __future__ import annotations

import json
import socket
import time
from typing import Any
from urllib.parse import parse_qsl

import pytest
from alipay import AliPay
from wechatpayv3 import WeChatPay

from tests.sandbox.pay_clients import ALIPAY_APP
from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import MINI_PROGRAM
from tests.sandbox.pay_clients import Received
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import order_number
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import wechat_pay

FAIL = (500, b'{"code":"FAIL","message":"failed"}')


def wechat_order(sandbox: Any, notify_url: str, total: int = 2500) -> tuple[WeChatPay, str]:
    """A WeChat Pay order notifying notify_url: the client and the out_trade_no."""
    wx = wechat_pay(sandbox, notify_url)
    number = order_number()
    openid = sandbox.login_code()["openid"]
    code, text = wx.pay("门诊挂号费", number, {"total": total, "currency": "CNY"}, payer={"openid": openid})
    assert code == 200, text
    return wx, number


def alipay_trade(sandbox: Any, notify_url: str, total: str = "25.00") -> tuple[AliPay, str, dict[str, Any]]:
    """An Alipay trade notifying notify_url: the client, the out_trade_no and the buyer."""
    ali, buyer, number = sandbox.alipay(), sandbox.auth_code(), order_number("AT")
    biz = {
        "out_trade_no": number,
        "total_amount": total,
        "subject": "门诊挂号费",
        "product_code": "JSAPI_PAY",
        "buyer_open_id": buyer["open_id"],
        "op_app_id": ALIPAY_APP,
    }
    created = ali.server_api("alipay.trade.create", biz_content=biz, notify_url=notify_url)
    assert created["code"] == "10000", created
    return ali, number, buyer


def pay(sandbox: Any, channel: str, number: str, **extra: Any) -> dict[str, Any]:
    result: dict[str, Any] = helper_json(sandbox, "POST", f"{channel}/pay", json={"out_trade_no": number, **extra})
    return result


def deliveries(sandbox: Any, number: str, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
    """The order's delivery records once there are count of them (or at the deadline)."""
    return poll(
        lambda: helper_json(sandbox, "GET", f"payments/{number}")["deliveries"],
        lambda found: len(found) >= count,
        timeout,
    )


def alipay_fields(received: Received) -> tuple[dict[str, str], str]:
    """The posted form as a merchant reads it: the fields without sign, and the sign."""
    fields = dict(parse_qsl(received.body.decode("utf-8"), keep_blank_values=True))
    return fields, fields.pop("sign")


def test_a_wechat_payment_is_notified_and_verifies_with_the_sdk(pay_sandbox: Any, receiver: Receiver) -> None:
    wx, number = wechat_order(pay_sandbox, receiver.url("wx/pay/v3/notify"), 1999)

    answer = pay(pay_sandbox, "wechat-pay", number)
    [got] = receiver.got(1)

    event = wx.callback(got.headers, got.body.decode("utf-8"))
    assert event is not None, "the SDK refused the notification"
    assert (event["event_type"], event["resource_type"], event["summary"]) == (
        "TRANSACTION.SUCCESS",
        "encrypt-resource",
        "支付成功",
    )
    resource = event["resource"]
    assert (resource["out_trade_no"], resource["trade_state"], resource["mchid"]) == (number, "SUCCESS", MERCHANT)
    assert (resource["appid"], resource["amount"]["total"]) == (MINI_PROGRAM, 1999)
    assert resource["transaction_id"] == answer["payment"]["trade_no"]
    sent = answer["notification"]
    assert (sent["url"], sent["method"], sent["body"]) == (receiver.url("wx/pay/v3/notify"), "POST", got.body.decode())
    assert sent["headers"]["Wechatpay-Signature"] == got.headers["Wechatpay-Signature"]
    assert json.loads(sent["body"])["resource"]["associated_data"] == "transaction"
    [delivery] = deliveries(pay_sandbox, number, 1)
    assert (delivery["status"], delivery["acknowledged"], delivery["attempt"]) == (200, True, 1)
    assert (delivery["kind"], delivery["event"]) == ("payment", "TRANSACTION.SUCCESS")


def test_a_tampered_wechat_notification_does_not_verify(pay_sandbox: Any, receiver: Receiver) -> None:
    wx, number = wechat_order(pay_sandbox, receiver.url())
    sent = pay(pay_sandbox, "wechat-pay", number, deliver=False)["notification"]

    tampered = sent["body"].replace('"summary":"支付成功"', '"summary":"支付失败"')
    wrong_key = wechat_pay(pay_sandbox, receiver.url(), apiv3_key="0" * 32)

    assert tampered != sent["body"] and wx.callback(sent["headers"], tampered) is None
    assert wrong_key.callback(sent["headers"], sent["body"]) is None
    assert wx.callback(sent["headers"], sent["body"]) is not None


def test_wechat_retries_until_a_2xx_and_signs_each_try_afresh(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with(FAIL, (503, b"busy"), then=(204, b""))
    wx, number = wechat_order(pay_sandbox, receiver.url())

    pay(pay_sandbox, "wechat-pay", number)
    got = receiver.got(3)
    records = deliveries(pay_sandbox, number, 3)
    time.sleep(0.1)  # the next retry would be 18 ms away: none may come

    assert len(got) == 3 and len(receiver.snapshot()) == 3
    assert [r["status"] for r in records] == [500, 503, 204]
    assert [r["acknowledged"] for r in records] == [False, False, True]
    assert [r["attempt"] for r in records] == [1, 2, 3] and records[0]["answer"] == FAIL[1].decode()
    assert len({r["notification_id"] for r in records}) == 1
    assert len({g.body for g in got}) == 1 and len({g.headers["Wechatpay-Nonce"] for g in got}) == 3
    assert all(wx.callback(g.headers, g.body.decode()) is not None for g in got)


def test_a_200_carrying_fail_is_an_acknowledgement_for_wechat(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with(then=(200, b'{"code":"FAIL","message":"ignored"}'))
    _, number = wechat_order(pay_sandbox, receiver.url())

    pay(pay_sandbox, "wechat-pay", number)
    receiver.got(1)
    time.sleep(0.1)

    assert len(receiver.snapshot()) == 1
    assert deliveries(pay_sandbox, number, 1)[0]["acknowledged"] is True


def test_an_alipay_payment_is_notified_and_verifies_with_the_sdk(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with(then=(200, b"success"))
    ali, number, buyer = alipay_trade(pay_sandbox, receiver.url("ali/notify"), "12.30")

    answer = pay(pay_sandbox, "alipay", number)
    [got] = receiver.got(1)
    fields, sign = alipay_fields(got)

    assert got.headers["Content-Type"].startswith("application/x-www-form-urlencoded")
    assert got.form["out_trade_no"] == number
    assert ali.verify(dict(fields), sign) is True
    assert (fields["trade_status"], fields["total_amount"], fields["out_trade_no"]) == (
        "TRADE_SUCCESS",
        "12.30",
        number,
    )
    assert (fields["app_id"], fields["notify_type"], fields["sign_type"]) == (ALIPAY_APP, "trade_status_sync", "RSA2")
    assert (fields["buyer_open_id"], fields["buyer_id"]) == (buyer["open_id"], buyer["user_id"])
    assert fields["seller_id"] == helper_json(pay_sandbox, "GET", "config")["alipay_apps"][0]["seller_id"]
    assert fields["trade_no"] == answer["payment"]["trade_no"] and fields["gmt_payment"]
    assert "" not in fields.values() and "refund_fee" not in fields
    assert answer["notification"]["body"] == got.body.decode()
    assert deliveries(pay_sandbox, number, 1)[0]["acknowledged"] is True


def test_a_tampered_alipay_notification_does_not_verify(pay_sandbox: Any, receiver: Receiver) -> None:
    ali, number, _ = alipay_trade(pay_sandbox, receiver.url())
    sent = pay(pay_sandbox, "alipay", number, deliver=False)["notification"]
    fields = dict(parse_qsl(sent["body"]))
    sign = fields.pop("sign")

    assert ali.verify({**fields, "total_amount": "0.01"}, sign) is False
    assert ali.verify(fields, sign) is True


def test_alipay_wants_exactly_success(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with((200, b"fail"), (200, b"success\n"), (500, b"success"), then=(200, b"success"))
    _, number, _ = alipay_trade(pay_sandbox, receiver.url())

    pay(pay_sandbox, "alipay", number)
    records = deliveries(pay_sandbox, number, 4)
    time.sleep(0.15)

    assert [(r["status"], r["answer"], r["acknowledged"]) for r in records] == [
        (200, "fail", False),
        (200, "success\n", False),
        (500, "success", False),
        (200, "success", True),
    ]
    assert len(receiver.snapshot()) == 4
    tries = [dict(parse_qsl(g.body.decode())) for g in receiver.snapshot()]
    # Every try is the same notification (its notify_id), signed afresh with the time it is sent.
    assert len({t["notify_id"] for t in tries}) == 1 and all(t["notify_time"] and t["sign"] for t in tries)
    assert len({tuple(sorted((k, v) for k, v in t.items() if k not in ("notify_time", "sign"))) for t in tries}) == 1


def test_nothing_is_sent_for_a_payment_not_to_be_delivered(pay_sandbox: Any, receiver: Receiver) -> None:
    _, wechat_number = wechat_order(pay_sandbox, receiver.url())
    _, alipay_number, _ = alipay_trade(pay_sandbox, receiver.url())

    sent = [
        pay(pay_sandbox, "wechat-pay", wechat_number, deliver=False),
        pay(pay_sandbox, "alipay", alipay_number, deliver=False),
    ]
    time.sleep(0.3)

    assert receiver.snapshot() == []
    assert all(answer["notification"]["body"] for answer in sent)
    assert helper_json(pay_sandbox, "GET", f"payments/{wechat_number}")["deliveries"] == []
    replay = pay_sandbox.http.post(
        sent[0]["notification"]["url"],
        data=sent[0]["notification"]["body"].encode(),
        headers=sent[0]["notification"]["headers"],
        timeout=5,
    )
    assert replay.status_code == 200 and len(receiver.snapshot()) == 1  # a test can send it itself


def test_a_failed_payment_is_not_notified(pay_sandbox: Any, receiver: Receiver) -> None:
    _, number = wechat_order(pay_sandbox, receiver.url())

    answer = pay(pay_sandbox, "wechat-pay", number, outcome="failed")
    time.sleep(0.2)

    assert answer["notification"] is None and answer["payment"]["state"] == "PAYERROR"
    assert receiver.snapshot() == []


def test_a_refused_connection_is_a_failed_try_and_is_retried(pay_sandbox: Any) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    _, number = wechat_order(pay_sandbox, f"http://127.0.0.1:{port}/notify")

    pay(pay_sandbox, "wechat-pay", number)
    records = deliveries(pay_sandbox, number, 3)

    assert len(records) >= 3
    assert all(r["status"] is None and r["error"] == "ConnectionError" and not r["acknowledged"] for r in records)


def test_a_slow_merchant_times_out_and_does_not_hold_up_the_payer(spawn_sandbox: Any, receiver: Receiver) -> None:
    sandbox = spawn_sandbox("slow-merchant", notify_compression=1_000_000, notify_timeout_seconds=0.2)
    receiver.delay_seconds = 0.5
    _, number = wechat_order(sandbox, receiver.url())

    started = time.monotonic()
    pay(sandbox, "wechat-pay", number)
    took = time.monotonic() - started
    records = deliveries(sandbox, number, 2)

    assert took < 0.4
    assert [r["error"] for r in records[:2]] == ["timeout", "timeout"] and records[0]["status"] is None


@pytest.mark.parametrize(("channel", "tries"), [("wechat-pay", 16), ("alipay", 8)])
def test_the_channels_give_up_after_their_schedule(
    spawn_sandbox: Any, receiver: Receiver, channel: str, tries: int
) -> None:
    sandbox = spawn_sandbox(f"give-up-{channel}", notify_compression=1_000_000, notify_timeout_seconds=1.0)
    receiver.answer_with(then=FAIL)
    if channel == "wechat-pay":
        _, number = wechat_order(sandbox, receiver.url())
    else:
        _, number, _ = alipay_trade(sandbox, receiver.url())

    pay(sandbox, channel, number)
    records = deliveries(sandbox, number, tries)
    time.sleep(0.2)

    assert len(helper_json(sandbox, "GET", f"payments/{number}")["deliveries"]) == tries
    assert [r["attempt"] for r in records] == list(range(1, tries + 1))
    assert len(receiver.snapshot()) == tries


def test_the_retry_intervals_follow_the_schedule(spawn_sandbox: Any, receiver: Receiver) -> None:
    # 15 s and 15 s, compressed 300 times: 50 ms apart, then 30 s: 100 ms.
    sandbox = spawn_sandbox("intervals", notify_compression=300, notify_timeout_seconds=1.0)
    receiver.answer_with(FAIL, FAIL, FAIL, then=(200, b""))
    _, number = wechat_order(sandbox, receiver.url())

    pay(sandbox, "wechat-pay", number)
    got = receiver.got(4)

    gaps = [later.at - earlier.at for earlier, later in zip(got, got[1:], strict=False)]
    assert 0.04 <= gaps[0] < 0.3 and 0.04 <= gaps[1] < 0.3 and 0.09 <= gaps[2] < 0.4, gaps


def test_a_wechat_refund_is_notified_when_it_settles(pay_sandbox: Any, receiver: Receiver) -> None:
    wx, number = wechat_order(pay_sandbox, receiver.url("pay"))
    pay(pay_sandbox, "wechat-pay", number, deliver=False)

    code, text = wx.refund(
        "RN-" + number,
        {"refund": 600, "total": 2500, "currency": "CNY"},
        out_trade_no=number,
        notify_url=receiver.url("refund"),
    )
    [got] = receiver.got(1)
    event = wx.callback(got.headers, got.body.decode())

    assert code == 200 and json.loads(text)["status"] == "PROCESSING" and got.path == "refund"
    assert event is not None and (event["event_type"], event["summary"]) == ("REFUND.SUCCESS", "退款成功")
    resource = event["resource"]
    assert (resource["out_refund_no"], resource["refund_status"], resource["out_trade_no"]) == (
        "RN-" + number,
        "SUCCESS",
        number,
    )
    assert resource["amount"] == {"total": 2500, "refund": 600, "payer_total": 2500, "payer_refund": 600}
    assert resource["success_time"] and json.loads(got.body)["resource"]["associated_data"] == "refund"


def test_a_wechat_refund_without_a_notify_url_is_not_notified(pay_sandbox: Any, receiver: Receiver) -> None:
    wx, number = wechat_order(pay_sandbox, receiver.url())
    pay(pay_sandbox, "wechat-pay", number, deliver=False)
    wx._notify_url = None  # the SDK falls back on the constructor's notify_url otherwise

    wx.refund("RQ-" + number, {"refund": 100, "total": 2500, "currency": "CNY"}, out_trade_no=number)
    settled = poll(lambda: json.loads(wx.query_refund("RQ-" + number)[1]), lambda r: r["status"] == "SUCCESS")
    time.sleep(0.1)

    assert settled["status"] == "SUCCESS" and receiver.snapshot() == []


def test_alipay_refunds_are_notified_to_the_trade_notify_url(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with(then=(200, b"success"))
    ali, number, _ = alipay_trade(pay_sandbox, receiver.url("ali"), "10.00")
    pay(pay_sandbox, "alipay", number, deliver=False)

    ali.api_alipay_trade_refund("4.00", out_trade_no=number, out_request_no="P1")
    ali.api_alipay_trade_refund("4.00", out_trade_no=number, out_request_no="P1")  # moves nothing: no notification
    ali.api_alipay_trade_refund("6.00", out_trade_no=number, out_request_no="P2")
    got = receiver.got(2)
    time.sleep(0.1)

    forms = [alipay_fields(g) for g in receiver.snapshot()]
    assert len(forms) == 2 and all(ali.verify(dict(fields), sign) for fields, sign in forms)
    partial = next(fields for fields, _ in forms if fields["out_biz_no"] == "P1")
    full = next(fields for fields, _ in forms if fields["out_biz_no"] == "P2")
    assert (partial["refund_fee"], partial["trade_status"]) == ("4.00", "TRADE_SUCCESS")
    assert (full["refund_fee"], full["trade_status"]) == ("10.00", "TRADE_CLOSED") and full["gmt_close"]
    assert partial["gmt_refund"].count(".") == 1 and {g.path for g in got} == {"ali"}


def test_a_finished_trade_is_notified(pay_sandbox: Any, receiver: Receiver) -> None:
    receiver.answer_with(then=(200, b"success"))
    ali, number, _ = alipay_trade(pay_sandbox, receiver.url())
    pay(pay_sandbox, "alipay", number, deliver=False)
    unpaid = alipay_trade(pay_sandbox, receiver.url())[1]

    answer = helper_json(pay_sandbox, "POST", "alipay/finish", json={"out_trade_no": number})
    [got] = receiver.got(1)
    fields, sign = alipay_fields(got)

    assert ali.verify(dict(fields), sign) is True and answer["notification"]["body"] == got.body.decode()
    assert (fields["trade_status"], fields["out_trade_no"]) == ("TRADE_FINISHED", number) and fields["gmt_close"]
    refused = pay_sandbox.helper("POST", "alipay/finish", json={"out_trade_no": unpaid})
    assert refused.status_code == 409 and refused.json()["error"]["details"] == {"out_trade_no": "not paid"}
