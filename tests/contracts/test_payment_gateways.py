"""One PaymentGateway contract, run over the fake and over WeChat Pay v3 and Alipay's trade API in the sandbox.

The channel side of each subject plays what billing never does itself: the payer paying, the
channel finishing a refund, the channel failing. Notifications are the exact bytes the channel
sends (the sandbox's own, or the fake's), read back by the gateway under test.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable
from collections.abc import Iterator
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl
from urllib.parse import urlencode

import pytest
import requests
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import padding

from app.wiring import build_channel_adapters
from billing.fake import Delivery
from billing.fake import FakePaymentGateway
from billing.gateway import CLOSED
from billing.gateway import PAID
from billing.gateway import PAYMENT_NOTICE
from billing.gateway import REFUND_NOTICE
from billing.gateway import REFUND_PROCESSING
from billing.gateway import REFUND_SUCCEEDED
from billing.gateway import UNPAID
from billing.gateway import Acknowledgement
from billing.gateway import NotificationRefused
from billing.gateway import Order
from billing.gateway import RefundOrder
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from tests.conftest import Sandbox
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import order_number
from tests.sandbox.pay_clients import poll
from tests.sandbox.pay_clients import start_receiver

MINI, ALIPAY_APP, MERCHANT, SELLER = "wx7c1b5d1e2f3a4b50", "2021004100000001", "1900000109", "2088721000000017"
AMOUNT = 2500
# How each channel reads an answer to its notification: WeChat Pay by the status, Alipay by the body.
ACKNOWLEDGED: dict[str, Callable[[Acknowledgement], bool]] = {
    "wechat": lambda answer: answer.status in (200, 204),
    "alipay": lambda answer: answer.status == 200 and answer.body == b"success",
}
FAULT_TARGETS = {
    "wechat": {"create": "wechat_pay.order", "query": "wechat_pay.query", "close": "wechat_pay.close"}
    | dict.fromkeys(("refund", "query_refund"), "wechat_pay.refund"),
    "alipay": {"create": "alipay.trade_create", "query": "alipay.trade_query", "close": "alipay.trade_close"}
    | dict.fromkeys(("refund", "query_refund"), "alipay.trade_refund"),
}


class FakeSide:
    """The fake's channel: it pays, settles and fails on command."""

    def __init__(self) -> None:
        self.gateway = FakePaymentGateway("wechat", MERCHANT, lambda: datetime.now(UTC))
        self.app_id, self.payer = MINI, "o-fake-payer"

    def notify_url(self, number: str) -> str:
        return f"https://citytiles.example.com/callbacks/wechat-pay/{MERCHANT}"

    def pay(self, out_trade_no: str) -> Delivery:
        return self.gateway.pay(out_trade_no)

    def deliver_twice(self, out_trade_no: str) -> tuple[list[Delivery], list[bool]]:
        first = self.gateway.pay(out_trade_no)
        second = self.gateway.payment_notification(out_trade_no)
        answers = [self.gateway.acknowledgement(False), self.gateway.acknowledgement(True)]
        return [first, second], [ACKNOWLEDGED["wechat"](answer) for answer in answers]

    def settle_refund(self, out_trade_no: str, out_refund_no: str) -> Delivery:
        return self.gateway.settle_refund(out_trade_no, out_refund_no)

    def break_channel(self, operation: str, mode: str, times: int) -> None:
        self.gateway.down = True

    def mend(self) -> None:
        self.gateway.down = False

    def forgeries(self, delivery: Delivery) -> list[Delivery]:
        wrong = {**delivery.headers, "X-Fake-Signature": "0" * 64}
        return [
            Delivery(delivery.headers, delivery.body.replace(b"{", b"{ ", 1)),
            Delivery(wrong, delivery.body),
            Delivery({}, delivery.body),
        ]


class SandboxSide:
    """A real channel in the sandbox: its payer, its refund outcomes, its faults, and a notify_url that listens."""

    def __init__(self, sandbox: Sandbox, tmp_path: Path, receiver: Receiver, channel: str) -> None:
        adapters = build_channel_adapters(sandbox.channel_settings(tmp_path))
        self.sandbox, self.receiver, self.channel = sandbox, receiver, channel
        self.app_id = MINI if channel == "wechat" else ALIPAY_APP
        self.gateway = adapters.payments[self.app_id]
        if channel == "wechat":
            self.payer = sandbox.wechat_code(MINI)["openid"]
        else:
            self.payer = sandbox.alipay_code()["open_id"]
        self.pay_path = "wechat-pay/pay" if channel == "wechat" else "alipay/pay"

    def notify_url(self, number: str) -> str:
        return self.receiver.url(f"{self.channel}/{number}")

    def pay(self, out_trade_no: str) -> Delivery:
        answer = self.sandbox.helper("POST", self.pay_path, json={"out_trade_no": out_trade_no, "deliver": False})
        sent = answer["notification"]
        return Delivery(sent["headers"], sent["body"].encode("utf-8"))

    def deliver_twice(self, out_trade_no: str) -> tuple[list[Delivery], list[bool]]:
        self.receiver.answer_with(
            _answer(self.gateway.acknowledgement(False)), then=_answer(self.gateway.acknowledgement(True))
        )
        self.sandbox.helper("POST", self.pay_path, json={"out_trade_no": out_trade_no})
        # WeChat Pay tries again 15 s later, Alipay 4 min later, both compressed 60 times in the test sandbox.
        got = self.receiver.got(2, timeout=15)
        deliveries = poll(
            lambda: self.sandbox.helper("GET", f"payments/{out_trade_no}")["deliveries"],
            lambda found: len(found) >= 2,
        )
        return [Delivery(r.headers, r.body) for r in got], [d["acknowledged"] for d in deliveries]

    def settle_refund(self, out_trade_no: str, out_refund_no: str) -> Delivery:
        if self.channel == "wechat":
            # Decides a refund still processing at once; one that settled by itself already is a 409.
            requests.post(
                f"{self.sandbox.base}/_sandbox/refund-outcome",
                json={"out_refund_no": out_refund_no, "outcome": "success"},
                timeout=10,
            )
            path = f"wechat/{out_refund_no}"
            got = poll(self.receiver.snapshot, lambda seen: any(r.path == path for r in seen), timeout=10)
            sent = next(r for r in got if r.path == path)
        else:
            # Alipay's refunds are made in the call, and notified to the trade's notify_url.
            got = poll(
                self.receiver.snapshot,
                lambda seen: any(r.form.get("out_biz_no") == out_refund_no for r in seen),
                timeout=10,
            )
            sent = next(r for r in got if r.form.get("out_biz_no") == out_refund_no)
        return Delivery(sent.headers, sent.body)

    def break_channel(self, operation: str, mode: str, times: int) -> None:
        fault = {"target": FAULT_TARGETS[self.channel][operation], "mode": mode, "times": times}
        self.sandbox.helper("POST", "faults", json=fault)

    def mend(self) -> None:
        self.sandbox.helper("DELETE", "faults")

    def forgeries(self, delivery: Delivery) -> list[Delivery]:
        if self.channel == "wechat":
            noise = base64.b64encode(os.urandom(256)).decode()
            return [
                Delivery(delivery.headers, delivery.body.replace(b"{", b"{ ", 1)),
                Delivery({**delivery.headers, "Wechatpay-Signature": noise}, delivery.body),
                Delivery(
                    {**delivery.headers, "Wechatpay-Serial": "PUB_KEY_ID_0000000000000000000000000000000"},
                    delivery.body,
                ),
                Delivery({**delivery.headers, "Wechatpay-Signature-Type": "WECHATPAY2-SM2-WITH-SM3"}, delivery.body),
                Delivery({"Content-Type": "application/json"}, delivery.body),
            ]
        fields = dict(parse_qsl(delivery.body.decode()))
        return [
            Delivery(delivery.headers, delivery.body.replace(b"total_amount=", b"total_amount=1", 1)),
            Delivery(
                delivery.headers, urlencode({**fields, "sign": base64.b64encode(os.urandom(256)).decode()}).encode()
            ),
            Delivery(delivery.headers, urlencode({**fields, "sign_type": "RSA"}).encode()),
            Delivery(delivery.headers, urlencode({k: v for k, v in fields.items() if k != "sign"}).encode()),
        ]


def _answer(acknowledgement: Acknowledgement) -> tuple[int, bytes]:
    return acknowledgement.status, acknowledgement.body


Side = FakeSide | SandboxSide


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A notify_url for this test alone: notifications of other tests' orders go elsewhere."""
    listening, stop = start_receiver()
    listening.answer_with(then=(200, b"success"))  # received, as both channels read it
    yield listening
    stop()


@pytest.fixture(params=["fake", "wechat", "alipay"])
def side(request: pytest.FixtureRequest, tmp_path: Path) -> Side:
    if request.param == "fake":
        return FakeSide()
    sandbox: Sandbox = request.getfixturevalue("clean_sandbox")
    return SandboxSide(sandbox, tmp_path, request.getfixturevalue("receiver"), request.param)


def an_order(side: Side, amount_fen: int = AMOUNT, payer: str | None = None) -> Order:
    number = order_number()
    return Order(
        out_trade_no=number,
        amount_fen=amount_fen,
        description="浙大一院 消化内科 挂号费",
        app_id=side.app_id,
        payer=payer or side.payer,
        expires_at=datetime.now(UTC) + timedelta(minutes=15),
        notify_url=side.notify_url(number),
    )


def placed(side: Side, amount_fen: int = AMOUNT) -> Order:
    order = an_order(side, amount_fen)
    side.gateway.create(order)
    return order


def paid(side: Side, amount_fen: int = AMOUNT) -> tuple[Order, Delivery]:
    order = placed(side, amount_fen)
    return order, side.pay(order.out_trade_no)


def a_refund(side: Side, order: Order, amount_fen: int, out_refund_no: str | None = None) -> RefundOrder:
    number = out_refund_no or order_number("RF")
    return RefundOrder(order.out_trade_no, number, amount_fen, order.amount_fen, "患者取消", side.notify_url(number))


def close_to_now(moment: datetime | None, seconds: float = 120) -> bool:
    return moment is not None and abs(datetime.now(UTC) - moment) < timedelta(seconds=seconds)


def test_an_order_is_placed_once_by_its_number(side: Side) -> None:
    order = an_order(side)
    first = side.gateway.create(order)
    again = side.gateway.create(order)
    assert first.reference and again.reference == first.reference
    assert first.params and all(isinstance(v, str) and v for v in first.params.values())
    assert any(first.reference in value for value in first.params.values())
    seen = side.gateway.query(order.out_trade_no)
    assert (seen.state, seen.amount_fen) == (UNPAID, AMOUNT)


def test_a_query_sees_the_payment_once_made(side: Side) -> None:
    order = placed(side)
    assert side.gateway.query(order.out_trade_no).state == UNPAID
    side.pay(order.out_trade_no)
    seen = side.gateway.query(order.out_trade_no)
    assert (seen.out_trade_no, seen.state, seen.amount_fen) == (order.out_trade_no, PAID, AMOUNT)
    assert seen.channel_trade_no and close_to_now(seen.paid_at)


def test_a_payment_notification_reads_as_the_payment(side: Side) -> None:
    order, delivery = paid(side)
    notice = side.gateway.parse_notification(delivery.headers, delivery.body)
    assert (notice.kind, notice.state, notice.out_trade_no) == (PAYMENT_NOTICE, PAID, order.out_trade_no)
    assert (notice.amount_fen, notice.currency) == (AMOUNT, "CNY")
    assert (notice.app_id, notice.merchant_id) == (side.app_id, side.gateway.merchant_id)
    assert notice.channel_trade_no == side.gateway.query(order.out_trade_no).channel_trade_no
    assert notice.event_id and notice.delivery and close_to_now(notice.sent_at)
    assert notice.sent_at.tzinfo is not None


def test_each_delivery_is_its_own_and_acknowledged_as_the_channel_reads_it(side: Side) -> None:
    order = placed(side)
    deliveries, acknowledged = side.deliver_twice(order.out_trade_no)
    first, second = (side.gateway.parse_notification(d.headers, d.body) for d in deliveries)
    assert first.event_id == second.event_id and first.delivery != second.delivery
    assert acknowledged[:2] == [False, True]


def test_acknowledgements_are_the_channels_own(side: Side) -> None:
    received, again = side.gateway.acknowledgement(True), side.gateway.acknowledgement(False)
    reads = ACKNOWLEDGED[side.gateway.channel]
    assert reads(received) and not reads(again)
    if side.gateway.channel == "wechat":
        assert received.body == b"" and again.status >= 400
        assert json.loads(again.body)["code"] == "FAIL"
    else:
        assert (received.body, received.content_type) == (b"success", "text/plain")


def test_a_tampered_or_forged_notification_is_refused(side: Side) -> None:
    _, delivery = paid(side)
    for forged in side.forgeries(delivery):
        with pytest.raises(NotificationRefused):
            side.gateway.parse_notification(forged.headers, forged.body)
    for garbled in (b"", b"\xff\xfe not text", b"{"):
        with pytest.raises(NotificationRefused):
            side.gateway.parse_notification(delivery.headers, garbled)


def test_an_unpaid_order_closes_and_a_paid_one_does_not(side: Side) -> None:
    order = placed(side)
    side.gateway.close(order.out_trade_no)
    side.gateway.close(order.out_trade_no)  # closing a closed order again is fine
    assert side.gateway.query(order.out_trade_no).state == CLOSED
    paid_order, _ = paid(side)
    with pytest.raises(UpstreamRejected) as refused:
        side.gateway.close(paid_order.out_trade_no)
    assert refused.value.code == "billing.order_paid"
    assert side.gateway.query(paid_order.out_trade_no).state == PAID


def test_an_unknown_order_is_not_found(side: Side) -> None:
    for call in (side.gateway.query, side.gateway.close):
        with pytest.raises(UpstreamRejected) as refused:
            call(order_number("NO"))
        assert (refused.value.code, refused.value.kind) == ("billing.order_not_found", "not_found")


def test_refunds_in_parts_never_past_the_amount_and_once_per_number(side: Side) -> None:
    order, _ = paid(side)
    with pytest.raises(UpstreamRejected) as refused:
        side.gateway.refund(a_refund(side, order, AMOUNT + 1))
    assert refused.value.code == "billing.refund_not_enough"
    first = a_refund(side, order, 1000)
    answer = side.gateway.refund(first)
    assert answer.out_refund_no == first.out_refund_no and answer.state in (REFUND_PROCESSING, REFUND_SUCCEEDED)
    # The same number again refunds nothing more: 1000 + 1500 still fits in 2500.
    assert side.gateway.refund(first).out_refund_no == first.out_refund_no
    rest = a_refund(side, order, AMOUNT - 1000)
    assert side.gateway.refund(rest).state in (REFUND_PROCESSING, REFUND_SUCCEEDED)
    with pytest.raises(UpstreamRejected) as refused:
        side.gateway.refund(a_refund(side, order, 1))
    assert refused.value.code == "billing.refund_not_enough"


def test_a_refund_notification_names_its_refund_and_its_own_amount(side: Side) -> None:
    order, _ = paid(side)
    first, rest = a_refund(side, order, 1000), a_refund(side, order, AMOUNT - 1000)
    side.gateway.refund(first)
    side.gateway.refund(rest)
    for refund in (rest, first):
        delivery = side.settle_refund(order.out_trade_no, refund.out_refund_no)
        notice = side.gateway.parse_notification(delivery.headers, delivery.body)
        assert (notice.kind, notice.state) == (REFUND_NOTICE, REFUND_SUCCEEDED)
        assert (notice.out_trade_no, notice.out_refund_no) == (order.out_trade_no, refund.out_refund_no)
        # Its own amount, not what has been refunded on the order so far.
        assert (notice.refund_fen, notice.amount_fen) == (refund.amount_fen, AMOUNT)
        assert (notice.app_id, notice.merchant_id) == (side.app_id, side.gateway.merchant_id)
        assert close_to_now(notice.sent_at)
        settled = side.gateway.query_refund(order.out_trade_no, refund.out_refund_no)
        assert (settled.out_refund_no, settled.state) == (refund.out_refund_no, REFUND_SUCCEEDED)


def test_an_unknown_refund_is_not_found(side: Side) -> None:
    order, _ = paid(side)
    with pytest.raises(UpstreamRejected) as refused:
        side.gateway.query_refund(order.out_trade_no, order_number("RF"))
    assert (refused.value.code, refused.value.kind) == ("billing.refund_not_found", "not_found")


@pytest.mark.parametrize(
    ("operation", "mode"),
    [("create", "error"), ("query", "down"), ("close", "error"), ("refund", "down"), ("query_refund", "error")],
)
def test_a_channel_that_fails_is_unavailable(side: Side, operation: str, mode: str) -> None:
    order, _ = paid(side)
    unpaid, refund = placed(side), a_refund(side, order, 100)
    if operation == "query_refund":
        side.gateway.refund(refund)
    calls: dict[str, Callable[[], object]] = {
        "create": lambda: side.gateway.create(an_order(side)),
        "query": lambda: side.gateway.query(order.out_trade_no),
        "close": lambda: side.gateway.close(unpaid.out_trade_no),
        "refund": lambda: side.gateway.refund(refund),
        "query_refund": lambda: side.gateway.query_refund(order.out_trade_no, refund.out_refund_no),
    }
    # Twice: a read is tried a second time before it gives up.
    side.break_channel(operation, mode, times=2)
    with pytest.raises(UpstreamUnavailable) as unavailable:
        calls[operation]()
    assert unavailable.value.code == "billing.channel_unavailable"
    side.mend()
    calls[operation]()


@pytest.mark.parametrize("channel", ["wechat", "alipay"])
def test_a_read_is_tried_again_but_a_write_never(
    channel: str, clean_sandbox: Sandbox, receiver: Receiver, tmp_path: Path
) -> None:
    # The real adapters only: the fake has no transport to retry over.
    side = SandboxSide(clean_sandbox, tmp_path, receiver, channel)
    order = placed(side)
    side.break_channel("query", "error", times=1)
    assert side.gateway.query(order.out_trade_no).state == UNPAID
    side.break_channel("close", "error", times=1)
    with pytest.raises(UpstreamUnavailable):
        side.gateway.close(order.out_trade_no)
    side.gateway.close(order.out_trade_no)


def test_wechat_pay_params_are_signed_with_the_merchant_key(clean_sandbox: Sandbox, tmp_path: Path) -> None:
    side = SandboxSide(clean_sandbox, tmp_path, Receiver("http://127.0.0.1:9"), "wechat")
    checkout = side.gateway.create(an_order(side))
    params = checkout.params
    assert set(params) == {"timeStamp", "nonceStr", "package", "signType", "paySign"}
    assert (params["package"], params["signType"]) == (f"prepay_id={checkout.reference}", "RSA")
    signed = "\n".join((MINI, params["timeStamp"], params["nonceStr"], params["package"])) + "\n"
    key_file = clean_sandbox.state_dir / "wechat_pay" / MERCHANT / "apiclient_public_key.pem"
    public_key: Any = serialization.load_pem_public_key(key_file.read_bytes())
    public_key.verify(base64.b64decode(params["paySign"]), signed.encode(), padding.PKCS1v15(), hashes.SHA256())


def test_an_alipay_payer_known_by_user_id_pays_too(clean_sandbox: Sandbox, tmp_path: Path) -> None:
    side = SandboxSide(clean_sandbox, tmp_path, Receiver("http://127.0.0.1:9"), "alipay")
    user_id = clean_sandbox.alipay_code()["user_id"]
    order = an_order(side, payer=user_id)
    checkout = side.gateway.create(order)
    assert dict(checkout.params) == {"tradeNO": checkout.reference}
    side.pay(order.out_trade_no)
    assert side.gateway.query(order.out_trade_no).state == PAID


def test_an_alipay_notification_for_another_seller_is_refused(clean_sandbox: Sandbox, tmp_path: Path) -> None:
    side = SandboxSide(clean_sandbox, tmp_path, Receiver("http://127.0.0.1:9"), "alipay")
    order, delivery = paid(side)
    fields = dict(parse_qsl(delivery.body.decode()))
    key_file = clean_sandbox.state_dir / "alipay" / "platform_private_key.pem"
    platform_key: Any = serialization.load_pem_private_key(key_file.read_bytes(), password=None)

    def signed(changes: dict[str, str]) -> bytes:
        form = {k: v for k, v in {**fields, **changes}.items() if k != "sign"}
        text = "&".join(f"{k}={v}" for k, v in sorted(form.items()) if k != "sign_type")
        signature = platform_key.sign(text.encode(), padding.PKCS1v15(), hashes.SHA256())
        return urlencode({**form, "sign": base64.b64encode(signature).decode()}).encode()

    # Signed as Alipay signs, the notification reads; the same for another seller is refused.
    notice = side.gateway.parse_notification(delivery.headers, signed({"notify_time": fields["notify_time"]}))
    assert notice.out_trade_no == order.out_trade_no
    with pytest.raises(NotificationRefused) as refused:
        side.gateway.parse_notification(delivery.headers, signed({"seller_id": "2088000000000001"}))
    assert refused.value.reason == "seller_mismatch"
    for amount in ("25", "25.0", "2.5e1", "-25.00", "２５.00"):
        with pytest.raises(NotificationRefused):
            side.gateway.parse_notification(delivery.headers, signed({"total_amount": amount}))
