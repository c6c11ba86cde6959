"""WeChat Pay API v3, driven by wechatpayv3 2.0.4 in public-key mode: orders, queries, close, refunds, signatures."""

from __future__ import annotations

import base64
import json
import time
from typing import Any

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric import rsa
from wechatpayv3 import WeChatPay
from wechatpayv3.utils import build_authorization
from wechatpayv3.utils import load_private_key

from tests.sandbox.pay_clients import MERCHANT
from tests.sandbox.pay_clients import MINI_PROGRAM
from tests.sandbox.pay_clients import helper_json
from tests.sandbox.pay_clients import merchant_file
from tests.sandbox.pay_clients import order_number
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import wechat_pay

OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
NOTIFY_URL = "http://127.0.0.1:9/wx/pay/v3/notify"  # nothing listens: deliveries fail quietly


def place(wx: WeChatPay, openid: str, total: int = 2500, out_trade_no: str | None = None, **extra: Any) -> str:
    """Order through the SDK; the out_trade_no."""
    number = out_trade_no or order_number()
    code, text = wx.pay("门诊挂号费", number, {"total": total, "currency": "CNY"}, payer={"openid": openid}, **extra)
    assert code == 200, text
    return number


def query(wx: WeChatPay, **which: str) -> tuple[int, dict[str, Any]]:
    code, text = wx.query(**which)
    return code, json.loads(text)


def paid_order(sandbox: Any, total: int = 2500) -> tuple[WeChatPay, str, dict[str, Any]]:
    """An order the payer has paid (nothing delivered); the client, out_trade_no and the transaction."""
    wx = wechat_pay(sandbox, NOTIFY_URL)
    number = place(wx, sandbox.login_code()["openid"], total)
    helper_json(sandbox, "POST", "wechat-pay/pay", json={"out_trade_no": number, "deliver": False})
    code, found = query(wx, out_trade_no=number)
    assert code == 200 and found["trade_state"] == "SUCCESS", found
    return wx, number, found


def refund(wx: WeChatPay, number: str, out_refund_no: str, amount: int, total: int = 2500) -> tuple[int, Any]:
    code, text = wx.refund(out_refund_no, {"refund": amount, "total": total, "currency": "CNY"}, out_trade_no=number)
    return code, json.loads(text)


def test_an_order_answers_a_signed_prepay_id_and_a_repeat_the_same_one(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    openid = pay_sandbox.login_code()["openid"]
    number = order_number()

    first = wx.pay("门诊挂号费", number, {"total": 2500, "currency": "CNY"}, payer={"openid": openid})
    again = wx.pay("门诊挂号费", number, {"total": 2500, "currency": "CNY"}, payer={"openid": openid})
    other = wx.pay("门诊挂号费", number, {"total": 2600, "currency": "CNY"}, payer={"openid": openid})

    assert first[0] == 200 and again == first  # the SDK checked both signatures
    prepay_id = json.loads(first[1])["prepay_id"]
    assert prepay_id.startswith("wx") and len(prepay_id) == 36
    assert other[0] == 400 and json.loads(other[1])["code"] == "INVALID_REQUEST"


def test_an_open_order_reads_notpay(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    number = place(wx, pay_sandbox.login_code()["openid"], 1234, attach="visit-42")

    code, found = query(wx, out_trade_no=number)

    assert code == 200
    assert (found["trade_state"], found["trade_state_desc"]) == ("NOTPAY", "订单未支付")
    assert (found["appid"], found["mchid"], found["out_trade_no"]) == (MINI_PROGRAM, MERCHANT, number)
    assert found["amount"]["total"] == 1234 and found["attach"] == "visit-42"
    assert "transaction_id" not in found and "success_time" not in found


def test_a_paid_order_reads_success_by_either_number(pay_sandbox: Any) -> None:
    wx, number, found = paid_order(pay_sandbox, 880)

    assert found["trade_state"] == "SUCCESS" and found["trade_state_desc"] == "支付成功"
    assert len(found["transaction_id"]) == 28 and found["transaction_id"].isdigit()
    assert found["amount"] == {"total": 880, "payer_total": 880, "currency": "CNY", "payer_currency": "CNY"}
    assert found["success_time"].endswith("+08:00") and found["trade_type"] == "JSAPI"
    assert found["payer"]["openid"]
    by_id = query(wx, transaction_id=found["transaction_id"])
    assert by_id == (200, found)


def test_a_paid_order_cannot_be_ordered_again_or_closed(pay_sandbox: Any) -> None:
    wx, number, found = paid_order(pay_sandbox)

    again = wx.pay("门诊挂号费", number, {"total": 2500, "currency": "CNY"}, payer={"openid": found["payer"]["openid"]})
    closed = wx.close(number)

    assert again[0] == 403 and json.loads(again[1])["code"] == "ORDERPAID"
    assert closed[0] == 403 and json.loads(closed[1])["code"] == "ORDERPAID"


def test_close_answers_a_signed_204_and_the_order_stays_closed(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    openid = pay_sandbox.login_code()["openid"]
    number = place(wx, openid)

    assert wx.close(number)[0] == 204  # the SDK verified the signature over the empty body
    assert wx.close(number)[0] == 204
    assert query(wx, out_trade_no=number)[1]["trade_state"] == "CLOSED"
    reorder = wx.pay("门诊挂号费", number, {"total": 2500, "currency": "CNY"}, payer={"openid": openid})
    assert reorder[0] == 400 and json.loads(reorder[1])["code"] == "ORDER_CLOSED"
    payment = pay_sandbox.helper("POST", "wechat-pay/pay", json={"out_trade_no": number})
    assert payment.status_code == 409 and payment.json()["error"]["code"] == "sandbox.order_closed"


def test_an_order_past_its_time_expire_is_closed(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    soon = time.strftime("%Y-%m-%dT%H:%M:%S+08:00", time.gmtime(time.time() + 8 * 3600 + 2))
    number = place(wx, pay_sandbox.login_code()["openid"], time_expire=soon)
    assert query(wx, out_trade_no=number)[1]["trade_state"] == "NOTPAY"

    found = poll(lambda: query(wx, out_trade_no=number)[1], lambda f: f["trade_state"] != "NOTPAY", timeout=3)

    assert found["trade_state"] == "CLOSED"


def test_unknown_orders_are_404(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)

    for which in ({"out_trade_no": order_number()}, {"transaction_id": "4200000000202401011234567890"}):
        code, body = query(wx, **which)
        assert (code, body["code"]) == (404, "ORDER_NOT_EXIST")
    code, text = wx.close(order_number())
    assert (code, json.loads(text)["code"]) == (404, "ORDER_NOT_EXIST")


@pytest.mark.parametrize(
    ("change", "code", "field"),
    [
        ({"amount": {"total": 0, "currency": "CNY"}}, "PARAM_ERROR", "/amount/total"),
        ({"amount": {"total": 12.5, "currency": "CNY"}}, "PARAM_ERROR", "/amount/total"),
        ({"amount": {"total": "100", "currency": "CNY"}}, "PARAM_ERROR", "/amount/total"),
        ({"amount": {"total": True, "currency": "CNY"}}, "PARAM_ERROR", "/amount/total"),
        ({"amount": {"total": 100, "currency": "USD"}}, "PARAM_ERROR", "/amount/currency"),
        ({"out_trade_no": "short"}, "PARAM_ERROR", "/out_trade_no"),
        ({"out_trade_no": "has space 123"}, "PARAM_ERROR", "/out_trade_no"),
        ({"out_trade_no": "x" * 33}, "PARAM_ERROR", "/out_trade_no"),
        ({"notify_url": "http://127.0.0.1/notify?order=1"}, "PARAM_ERROR", "/notify_url"),
        ({"notify_url": "ftp://127.0.0.1/notify"}, "PARAM_ERROR", "/notify_url"),
        ({"time_expire": "2030-01-01 10:00:00"}, "PARAM_ERROR", "/time_expire"),
        ({"time_expire": "2001-01-01T10:00:00+08:00"}, "PARAM_ERROR", "/time_expire"),
        ({"payer": {"openid": "o-never-logged-in"}}, "PARAM_ERROR", "/payer/openid"),
        ({"appid": "wx0000000000000000"}, "APPID_MCHID_NOT_MATCH", None),
        ({"description": "x" * 128}, "PARAM_ERROR", "/description"),
    ],
)
def test_a_malformed_order_is_a_400(pay_sandbox: Any, change: dict[str, Any], code: str, field: str | None) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    openid = pay_sandbox.login_code()["openid"]
    arguments: dict[str, Any] = {
        "description": "门诊挂号费",
        "out_trade_no": order_number(),
        "amount": {"total": 100, "currency": "CNY"},
        "payer": {"openid": openid},
        **change,
    }

    status, text = wx.pay(**arguments)

    body = json.loads(text)
    assert (status, body["code"]) == (400, code), body
    if field is not None:
        assert body["detail"]["field"] == field


def test_the_official_account_may_order_too(pay_sandbox: Any) -> None:
    openid = pay_sandbox.login_code(app_id=OFFICIAL_ACCOUNT)["openid"]
    wx = wechat_pay(pay_sandbox, NOTIFY_URL, appid=OFFICIAL_ACCOUNT)

    assert query(wx, out_trade_no=place(wx, openid))[1]["appid"] == OFFICIAL_ACCOUNT


def signed_request(
    sandbox: Any, method: str, path: str, body: dict[str, Any] | None = None, **auth: Any
) -> requests.Response:
    """A request signed by hand (wechatpayv3's own build_authorization), with overrides for the Authorization."""
    data = json.dumps(body) if body is not None else ""
    key = load_private_key(auth.pop("private_key", None) or merchant_file(sandbox, "apiclient_key.pem"))
    signed_path = auth.pop("signed_path", path)
    signed_body = auth.pop("signed_body", data)
    authorization = build_authorization(
        signed_path,
        method,
        auth.pop("mchid", MERCHANT),
        auth.pop("serial_no", merchant_file(sandbox, "apiclient_serial_no")),
        key,
        data=signed_body,
    )
    if "timestamp" in auth:
        authorization = authorization.replace(
            authorization.split('timestamp="')[1].split('"')[0], str(auth.pop("timestamp"))
        )
    headers = {"Authorization": authorization, "Content-Type": "application/json", "Accept": "application/json"}
    response: requests.Response = sandbox.http.request(
        method, sandbox.base + path, data=data.encode(), headers=headers, timeout=10
    )
    return response


def query_path() -> str:
    return f"/v3/pay/transactions/out-trade-no/{order_number()}?mchid={MERCHANT}"


def test_a_correctly_signed_hand_made_request_passes(pay_sandbox: Any) -> None:
    response = signed_request(pay_sandbox, "GET", query_path())
    assert response.status_code == 404 and response.json()["code"] == "ORDER_NOT_EXIST"  # past the signature


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"mchid": "1900000999"}, id="unknown-mchid"),
        pytest.param({"serial_no": "0" * 40}, id="wrong-serial"),
        pytest.param({"signed_path": "/v3/pay/transactions/out-trade-no/CT000000"}, id="other-path"),
        pytest.param({"timestamp": int(time.time()) - 3600}, id="stale-timestamp"),
        pytest.param({"private_key": "other"}, id="other-key"),
    ],
)
def test_a_wrongly_signed_request_is_401_sign_error(pay_sandbox: Any, tamper: dict[str, Any]) -> None:
    if tamper.get("private_key") == "other":
        other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        tamper["private_key"] = other.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ).decode()

    response = signed_request(pay_sandbox, "GET", query_path(), **tamper)

    assert response.status_code == 401 and response.json()["code"] == "SIGN_ERROR"


def test_a_body_changed_after_signing_is_401(pay_sandbox: Any) -> None:
    number = order_number()
    body = {"mchid": MERCHANT}
    close = f"/v3/pay/transactions/out-trade-no/{number}/close"

    tampered = signed_request(pay_sandbox, "POST", close, body, signed_body=json.dumps({"mchid": "1900000110"}))
    reordered = signed_request(pay_sandbox, "POST", close, body, signed_body=json.dumps(body, separators=(",", ":")))
    missing = pay_sandbox.http.get(pay_sandbox.base + query_path(), timeout=10)

    assert tampered.status_code == reordered.status_code == missing.status_code == 401
    assert missing.json()["code"] == "SIGN_ERROR"


def test_every_answer_is_signed_with_the_wechat_pay_public_key(pay_sandbox: Any) -> None:
    public_key = serialization.load_pem_public_key(merchant_file(pay_sandbox, "pub_key.pem").encode())
    assert isinstance(public_key, rsa.RSAPublicKey)
    number = place(wechat_pay(pay_sandbox, NOTIFY_URL), pay_sandbox.login_code()["openid"])
    answers = [
        signed_request(pay_sandbox, "GET", f"/v3/pay/transactions/out-trade-no/{number}?mchid={MERCHANT}"),
        signed_request(pay_sandbox, "POST", f"/v3/pay/transactions/out-trade-no/{number}/close", {"mchid": MERCHANT}),
        signed_request(pay_sandbox, "GET", query_path()),
        pay_sandbox.http.get(pay_sandbox.base + query_path(), timeout=10),
    ]

    assert [a.status_code for a in answers] == [200, 204, 404, 401]
    assert answers[1].content == b""
    for answer in answers:
        headers = answer.headers
        assert headers["Wechatpay-Signature-Type"] == "WECHATPAY2-SHA256-RSA2048"
        assert headers["Wechatpay-Serial"] == merchant_file(pay_sandbox, "pub_key_id") and headers["Request-ID"]
        signed = f"{headers['Wechatpay-Timestamp']}\n{headers['Wechatpay-Nonce']}\n".encode() + answer.content + b"\n"
        signature = base64.b64decode(headers["Wechatpay-Signature"])
        public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())


def test_a_partial_refund_is_processing_then_succeeds(pay_sandbox: Any) -> None:
    wx, number, found = paid_order(pay_sandbox)

    code, asked = refund(wx, number, "RF-" + number, 1000)

    assert code == 200 and asked["status"] == "PROCESSING" and "success_time" not in asked
    assert (asked["out_trade_no"], asked["transaction_id"]) == (number, found["transaction_id"])
    assert asked["amount"]["refund"] == 1000 and asked["amount"]["total"] == 2500
    settled = poll(lambda: json.loads(wx.query_refund("RF-" + number)[1]), lambda r: r["status"] != "PROCESSING")
    assert settled["status"] == "SUCCESS" and settled["refund_id"] == asked["refund_id"] and settled["success_time"]
    assert query(wx, out_trade_no=number)[1]["trade_state"] == "REFUND"


def test_refunds_add_up_to_the_paid_amount_and_no_more(pay_sandbox: Any) -> None:
    wx, number, _ = paid_order(pay_sandbox)

    assert refund(wx, number, "A-" + number, 1500)[0] == 200
    code, over = refund(wx, number, "B-" + number, 1001)
    assert (code, over["code"]) == (403, "NOT_ENOUGH")
    assert refund(wx, number, "C-" + number, 1000)[0] == 200
    code, over = refund(wx, number, "D-" + number, 1)
    assert (code, over["code"]) == (403, "NOT_ENOUGH")


def test_the_same_out_refund_no_answers_the_same_refund(pay_sandbox: Any) -> None:
    wx, number, _ = paid_order(pay_sandbox)

    first = refund(wx, number, "R-" + number, 700)[1]
    again = refund(wx, number, "R-" + number, 700)[1]
    code, other = refund(wx, number, "R-" + number, 800)

    assert again["refund_id"] == first["refund_id"]
    assert (code, other["code"]) == (400, "INVALID_REQUEST")
    assert refund(wx, number, "S-" + number, 1800)[0] == 200  # the repeat did not take 700 more


def test_refunds_need_a_paid_order_with_its_real_total(pay_sandbox: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    unpaid = place(wx, pay_sandbox.login_code()["openid"])
    _, paid, _ = paid_order(pay_sandbox)

    assert refund(wx, unpaid, "U-" + unpaid, 100)[1]["code"] == "INVALID_REQUEST"
    assert refund(wx, order_number(), "N-" + unpaid, 100)[1]["code"] == "RESOURCE_NOT_EXISTS"
    code, wrong_total = refund(wx, paid, "T-" + paid, 100, total=2499)
    assert (code, wrong_total["code"]) == (400, "PARAM_ERROR")
    code, unknown = wx.query_refund("NO-SUCH-REFUND")
    assert (code, json.loads(unknown)["code"]) == (404, "RESOURCE_NOT_EXISTS")


def test_a_refund_by_transaction_id(pay_sandbox: Any) -> None:
    wx, number, found = paid_order(pay_sandbox)

    code, text = wx.refund("TX-" + number, {"refund": 2500, "total": 2500, "currency": "CNY"}, found["transaction_id"])

    assert code == 200 and json.loads(text)["out_trade_no"] == number


@pytest.mark.parametrize(("mode", "status", "code"), [("error", 500, "SYSTEM_ERROR"), ("down", 503, None)])
def test_faults_on_the_order_api(pay_sandbox: Any, pay_faults: Any, mode: str, status: int, code: str | None) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    openid = pay_sandbox.login_code()["openid"]
    assert pay_faults(target="wechat_pay.order", mode=mode).status_code == 201

    failed = wx.pay("门诊挂号费", order_number(), {"total": 100}, payer={"openid": openid})

    assert failed[0] == status
    if code is not None:
        assert json.loads(failed[1])["code"] == code
    assert place(wx, openid)  # one call only


def test_a_flaky_query_fails_every_other_call(pay_sandbox: Any, pay_faults: Any) -> None:
    wx = wechat_pay(pay_sandbox, NOTIFY_URL)
    number = place(wx, pay_sandbox.login_code()["openid"])
    pay_faults(target="wechat_pay.query", mode="flaky", times=4)

    codes = [wx.query(out_trade_no=number)[0] for _ in range(5)]

    assert codes == [500, 200, 500, 200, 200]


def test_a_slow_refund_api_outlasts_the_client_timeout(pay_sandbox: Any, pay_faults: Any) -> None:
    wx, number, _ = paid_order(pay_sandbox)
    wx._core._timeout = (2, 0.3)
    pay_faults(target="wechat_pay.refund", mode="slow", delay_seconds=1.0)

    with pytest.raises(requests.Timeout):
        refund(wx, number, "SLOW-" + number, 100)
