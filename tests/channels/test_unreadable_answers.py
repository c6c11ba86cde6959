"""A channel answering with HTML, the wrong JSON or a broken signature is unavailable, never a crash."""

from __future__ import annotations

import json
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path
from threading import Thread

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request
from werkzeug.wrappers import Response

from app.wiring import build_channel_adapters
from billing.gateway import Order
from billing.gateway import PaymentGateway
from billing.gateway import RefundOrder
from config.settings import ChannelSettings
from errors import UpstreamUnavailable
from identity.ports import RealNameClaim
from tests.conftest import Sandbox

MINI, OA, ALIPAY = "wx7c1b5d1e2f3a4b50", "wx9a8b7c6d5e4f3a20", "2021004100000001"
TOKEN = json.dumps({"access_token": "t", "expires_in": 7200})
ANSWERS = {
    "html": ("text/html", "<html><body>502 Bad Gateway</body></html>"),
    "wrong-json": ("application/json", '{"unexpected": 1}'),
    "empty-alipay-user": (
        "text/html",
        '{"alipay_system_oauth_token_response":{"access_token":"x"},"sign":"bm90IGEgc2lnbmF0dXJl"}',
    ),
    "control-characters": ("application/json", '{"openid": "o-1\\n", "unionid": "u\\u202e", "session_key": "k"}'),
    "broken-signature": ("text/html", '{"alipay_system_oauth_token_response":{"user_id":"2088"},"sign":"%%%"}'),
    "json-list": ("application/json", '[{"openid": "o-1"}]'),
    "errcode-text": ("application/json", '{"errcode": "busy", "errmsg": "x"}'),
    "http-502": ("application/json", '{"openid": "o-1"}'),
}


class Stub:
    """An HTTP server that hands out a token but answers every other call with one fixed body."""

    def __init__(self) -> None:
        self.answer = ANSWERS["html"]
        self.calls = 0

    def __call__(self, environ, start_response):  # type: ignore[no-untyped-def]
        path = Request(environ).path
        if path.endswith("stable_token"):
            return Response(TOKEN, content_type="application/json")(environ, start_response)
        self.calls += 1
        content_type, body = self.answer
        status = 502 if self.answer == ANSWERS["http-502"] else 200
        return Response(body, status=status, content_type=content_type)(environ, start_response)


@pytest.fixture(scope="module")
def stub() -> Iterator[tuple[Stub, str]]:
    app = Stub()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    Thread(target=server.serve_forever, daemon=True).start()
    yield app, f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


@pytest.fixture
def adapters(sandbox: Sandbox, stub: tuple[Stub, str], tmp_path: Path):  # type: ignore[no-untyped-def]
    base = stub[1]
    return build_channel_adapters(
        replace(
            sandbox.channel_settings(tmp_path),
            channels=ChannelSettings(base, base + "/gateway.do", wechat_pay_base_url=base),
        )
    )


@pytest.mark.parametrize("answer", list(ANSWERS))
@pytest.mark.parametrize("app_id", [MINI, OA, ALIPAY])
def test_logins_turn_unreadable_answers_into_unavailable(adapters, stub, answer: str, app_id: str) -> None:  # type: ignore[no-untyped-def]
    stub[0].answer = ANSWERS[answer]
    with pytest.raises(UpstreamUnavailable) as unavailable:
        adapters.logins[app_id].exchange_code("any-code")
    assert unavailable.value.code == "channel.unavailable"


@pytest.mark.parametrize("answer", ["html", "wrong-json"])
def test_phone_and_real_name_checks_turn_unreadable_answers_into_unavailable(adapters, stub, answer: str) -> None:  # type: ignore[no-untyped-def]
    stub[0].answer = ANSWERS[answer]
    with pytest.raises(UpstreamUnavailable):
        adapters.phones[MINI].phone_number("code", "openid")
    for channel, app_id in (("wechat", MINI), ("alipay", ALIPAY)):
        claim = RealNameClaim(channel, app_id, "user", "secret", "张三", "11010519491231002X")
        with pytest.raises(UpstreamUnavailable):
            adapters.verifiers[channel].verify(claim)


@pytest.mark.parametrize("app_id", [MINI, OA, ALIPAY])
def test_repeated_failures_open_the_apps_breaker_and_later_calls_are_refused_without_calling(  # type: ignore[no-untyped-def]
    adapters, stub, app_id: str
) -> None:
    stub[0].answer = ANSWERS["html"]
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            adapters.logins[app_id].exchange_code("any-code")
    calls = stub[0].calls
    with pytest.raises(UpstreamUnavailable) as refused:
        adapters.logins[app_id].exchange_code("any-code")
    assert stub[0].calls == calls
    assert refused.value.code == "channel.unavailable"
    assert refused.value.retry_after >= 1
    # Each app is a connection of its own: another app is still called.
    other = next(other for other in (MINI, OA, ALIPAY) if other != app_id)
    with pytest.raises(UpstreamUnavailable):
        adapters.logins[other].exchange_code("any-code")
    assert stub[0].calls == calls + 1


def payment_calls(app_id: str) -> dict[str, Callable[[PaymentGateway], object]]:
    number, refund_number = "CT0000000000000001", "RF0000000000000001"
    order = Order(
        number, 2500, "挂号费", app_id, "payer-1", datetime.now(UTC) + timedelta(minutes=10), "http://127.0.0.1:9/n"
    )
    refund = RefundOrder(number, refund_number, 100, 2500, "患者取消", "http://127.0.0.1:9/n")
    return {
        "create": lambda gateway: gateway.create(order),
        "query": lambda gateway: gateway.query(number),
        "close": lambda gateway: gateway.close(number),
        "refund": lambda gateway: gateway.refund(refund),
        "query_refund": lambda gateway: gateway.query_refund(number, refund_number),
    }


# Every answer through both writes (made once, so quick), and two through the rest: each call shares
# the one way an answer is read.
PAYMENT_CASES = [(answer, operation) for answer in ANSWERS for operation in ("create", "close")] + [
    (answer, operation) for answer in ("html", "broken-signature") for operation in ("query", "refund", "query_refund")
]


@pytest.mark.parametrize(("answer", "operation"), PAYMENT_CASES)
@pytest.mark.parametrize("app_id", [MINI, ALIPAY])
def test_payment_gateways_turn_unreadable_answers_into_unavailable(  # type: ignore[no-untyped-def]
    adapters, stub, answer: str, app_id: str, operation: str
) -> None:
    stub[0].answer = ANSWERS[answer]
    with pytest.raises(UpstreamUnavailable) as unavailable:
        payment_calls(app_id)[operation](adapters.payments[app_id])
    assert unavailable.value.code == "billing.channel_unavailable"
    assert stub[0].calls >= 1


@pytest.mark.parametrize("app_id", [MINI, ALIPAY])
def test_a_merchant_that_keeps_failing_opens_its_own_breaker(adapters, stub, app_id: str) -> None:  # type: ignore[no-untyped-def]
    stub[0].answer = ANSWERS["html"]
    gateway, calls = adapters.payments[app_id], payment_calls(app_id)
    for _ in range(5):
        with pytest.raises(UpstreamUnavailable):
            calls["close"](gateway)
    before = stub[0].calls
    with pytest.raises(UpstreamUnavailable) as refused:
        calls["query"](gateway)
    assert (stub[0].calls, refused.value.code) == (before, "billing.channel_unavailable")
    # The app's logins are another connection: still called.
    with pytest.raises(UpstreamUnavailable):
        adapters.logins[app_id].exchange_code("any-code")
    assert stub[0].calls == before + 1
