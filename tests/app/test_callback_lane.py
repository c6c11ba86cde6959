"""The callback lane: notifications answered ahead of Flask exactly as the Flask view answers them."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterable
from collections.abc import Iterator
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import pytest
from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.test import Client
from werkzeug.test import EnvironBuilder
from werkzeug.test import TestResponse
from werkzeug.test import run_wsgi_app

from app import create_app
from app.callback_lane import CallbackLane
from app.request_log import JSONFormatter
from app.wiring import ChannelAdapters
from billing import statuses
from billing.fake import FakePaymentGateway
from billing.gateway import Acknowledgement
from billing.gateway import Notice
from config import Settings
from tests.billing.world import MERCHANT
from tests.billing.world import open_order
from tests.billing.world import payment
from tests.conftest import WECHAT_MINI_PROGRAM
from tests.conftest import Clock

PATHS = {"wechat": "wechat-pay", "alipay": "alipay"}


class BrokenGateway(FakePaymentGateway):
    """A merchant whose notifications fail in a way no handler names: an unexpected error."""

    def parse_notification(self, headers: Mapping[str, str], body: bytes) -> Notice:
        """Fail as a bug would."""
        raise RuntimeError("a bug in reading notifications")


class AnsweringAsWeChat(FakePaymentGateway):
    """WeChat Pay's real acknowledgement: 204 and no body once received (channels/wechat/payments.py)."""

    def acknowledgement(self, received: bool) -> Acknowledgement:
        """204 when received; the fake's failure otherwise."""
        return Acknowledgement(204, b"", "text/plain") if received else super().acknowledgement(received)


GATEWAYS = {"wechat": FakePaymentGateway, "wechat-204": AnsweringAsWeChat, "alipay": FakePaymentGateway}


@pytest.fixture(params=sorted(GATEWAYS))
def gateway(request: pytest.FixtureRequest, clock: Clock) -> FakePaymentGateway:
    return GATEWAYS[request.param](request.param.removesuffix("-204"), MERCHANT, clock)


def serving(settings: Settings, clock: Clock, channels: ChannelAdapters, gateway: FakePaymentGateway) -> Flask:
    return create_app(settings, clock=clock, channels=replace(channels, payments={WECHAT_MINI_PROGRAM: gateway}))


@pytest.fixture
def paying_app(
    settings: Settings, clock: Clock, fake_channels: ChannelAdapters, gateway: FakePaymentGateway
) -> Iterator[Flask]:
    application = serving(settings, clock, fake_channels, gateway)
    yield application
    application.extensions["tasks"].drain()  # the paid orders' follow-up work, before the tables are emptied
    application.extensions["engine"].dispose()


def lane(app: Flask) -> CallbackLane:
    served = app.wsgi_app
    assert isinstance(served, CallbackLane), "create_app puts the lane in front of Flask"
    return served


def through_lane(app: Flask) -> Client:
    """The lane alone: a request it would hand to Flask fails the test instead."""
    return Client(CallbackLane(app, refusing_flask), TestResponse)


def through_app(app: Flask) -> Client:
    """The app as served: the lane, and Flask behind it."""
    return Client(app.wsgi_app, TestResponse)


def through_flask(app: Flask) -> Client:
    return Client(lane(app).rest, TestResponse)


def refusing_flask(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    raise AssertionError(f"{environ['REQUEST_METHOD']} {environ.get('PATH_INFO')} went on to Flask")


def comparable(answer: TestResponse) -> tuple[str, bytes, list[tuple[str, str]]]:
    """Status line, body and headers, the request id's value aside (each request has its own)."""
    headers = sorted((name, "<id>" if name == "X-Request-Id" else value) for name, value in answer.headers.items())
    return answer.status, answer.data, headers


def test_every_answer_the_lane_gives_is_the_one_the_flask_view_gives(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    path = f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}"
    answers: dict[str, list[tuple[str, bytes, list[tuple[str, str]]]]] = {}
    for name, client in (("lane", through_lane(paying_app)), ("flask", through_flask(paying_app))):
        with paying_app.extensions["session_factory"]() as db:
            order = open_order(db, gateway, clock)
        delivery = gateway.pay(order.out_trade_no)
        forged = delivery.body.replace(b"2500", b"1")
        answers[name] = [
            comparable(client.post(path, data=forged, headers=delivery.headers)),
            comparable(client.post(path, data=delivery.body, headers=delivery.headers)),
            comparable(client.post(path, data=delivery.body, headers=delivery.headers)),  # a replay
        ]
        assert payment(paying_app, order.out_trade_no).status == statuses.PAID
    assert answers["lane"] == answers["flask"]
    received = "204 NO CONTENT" if isinstance(gateway, AnsweringAsWeChat) else "200 OK"
    assert [status for status, _, _ in answers["lane"]] == [
        "500 INTERNAL SERVER ERROR",
        received,
        "500 INTERNAL SERVER ERROR",
    ]


def test_the_lane_applies_a_notification_without_flask_and_leaves_it_every_other_request(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    alone = Client(CallbackLane(paying_app, refusing_flask), TestResponse)
    path = f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}"
    with paying_app.extensions["session_factory"]() as db:
        order = open_order(db, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    assert alone.post(path, data=delivery.body, headers=delivery.headers).status_code in {200, 204}
    assert payment(paying_app, order.out_trade_no).status == statuses.PAID
    limit = paying_app.config["MAX_CONTENT_LENGTH"]
    other = "alipay" if gateway.channel == "wechat" else "wechat-pay"
    for method, url, overrides in (
        ("GET", path, {}),
        ("PUT", path, {}),
        ("POST", f"/callbacks/{PATHS[gateway.channel]}/1900000999", {}),  # not our merchant
        ("POST", f"/callbacks/{other}/{MERCHANT}", {}),  # ours, but on the other channel
        ("POST", f"{path}/more", {}),
        ("POST", path + "%0A", {}),
        ("POST", path, {"CONTENT_LENGTH": None, "HTTP_TRANSFER_ENCODING": "chunked"}),
        ("POST", path, {"HTTP_TRANSFER_ENCODING": "chunked"}),  # a length too: the framing is Flask's to judge
        ("POST", path, {"HTTP_COOKIE": "citytiles_console=x"}),  # a session Flask would refresh
        ("POST", path, {"PATH_INFO": None}),  # PEP 3333: an empty path may be left out
        ("POST", path, {"CONTENT_LENGTH": ""}),
        ("POST", path, {"CONTENT_LENGTH": None}),
        ("POST", path, {"CONTENT_LENGTH": str(limit + 1)}),
        ("POST", path, {"CONTENT_LENGTH": "٣"}),  # a digit, but not an ASCII one
        ("POST", path, {"CONTENT_LENGTH": "-2"}),
    ):
        environ = EnvironBuilder(url, method=method, data=b"{}").get_environ()
        for name, value in overrides.items():
            if value is None:
                environ.pop(name, None)
            else:
                environ[name] = value
        with pytest.raises(AssertionError, match="went on to Flask"):
            CallbackLane(paying_app, refusing_flask)(environ, lambda status, headers, exc_info=None: None)


def test_what_the_lane_leaves_to_flask_is_answered_in_the_one_error_shape(
    paying_app: Flask, gateway: FakePaymentGateway
) -> None:
    client = through_app(paying_app)
    path = f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}"
    unknown = client.post(f"/callbacks/{PATHS[gateway.channel]}/1900000999", data=b"{}")
    assert (unknown.status_code, unknown.json["error"]["code"]) == (404, "billing.merchant_not_found")  # type: ignore[index]
    assert client.get(path).status_code == 405
    too_long = b"x" * (paying_app.config["MAX_CONTENT_LENGTH"] + 1)
    assert client.post(path, data=too_long).json["error"]["code"] == "request.too_large"  # type: ignore[index]


def test_a_body_cut_short_is_refused_by_flask_and_changes_nothing(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    with paying_app.extensions["session_factory"]() as db:
        order = open_order(db, gateway, clock)
    delivery = gateway.pay(order.out_trade_no)
    environ = EnvironBuilder(
        f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}", method="POST", data=delivery.body, headers=delivery.headers
    ).get_environ()
    environ["CONTENT_LENGTH"] = str(len(delivery.body) + 10)  # the client said more than it sent
    body, status, _ = run_wsgi_app(paying_app.wsgi_app, environ)
    assert status.startswith("400 ") and json.loads(b"".join(body))["error"]["code"] == "request.malformed"
    assert payment(paying_app, order.out_trade_no).status == statuses.CREATED


def test_a_body_shorter_than_its_length_on_a_terminated_input_is_read_as_flask_reads_it(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    # gunicorn marks every input terminated: Flask then reads to the end, whatever the length said.
    outcomes = []
    for served in (paying_app.wsgi_app, lane(paying_app).rest):
        with paying_app.extensions["session_factory"]() as db:
            order = open_order(db, gateway, clock)
        delivery = gateway.pay(order.out_trade_no)
        environ = EnvironBuilder(
            f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}",
            method="POST",
            data=delivery.body,
            headers=delivery.headers,
        ).get_environ()
        environ["CONTENT_LENGTH"] = str(len(delivery.body) + 10)
        environ["wsgi.input_terminated"] = True
        _, status, _ = run_wsgi_app(served, environ)
        outcomes.append((status, payment(paying_app, order.out_trade_no).status))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][1] == statuses.PAID


def test_the_lane_reads_the_length_it_was_given_and_takes_a_body_at_the_limit(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock
) -> None:
    path = f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}"
    for trailing in (b"", b"trailing bytes past the length"):
        with paying_app.extensions["session_factory"]() as db:
            order = open_order(db, gateway, clock)
        delivery = gateway.pay(order.out_trade_no)
        paying_app.config["MAX_CONTENT_LENGTH"] = len(delivery.body)
        environ = EnvironBuilder(
            path, method="POST", data=delivery.body + trailing, headers=delivery.headers
        ).get_environ()
        environ["CONTENT_LENGTH"] = str(len(delivery.body))
        _, status, _ = run_wsgi_app(CallbackLane(paying_app, refusing_flask), environ)
        assert status.split()[0] in {"200", "204"}
        assert payment(paying_app, order.out_trade_no).status == statuses.PAID


class Disconnecting(io.RawIOBase):
    """A client that goes away halfway through its body: the read fails, and the socket has nothing more."""

    def __init__(self) -> None:
        super().__init__()
        self.failed = False

    def readinto(self, buffer: Any) -> int:
        if self.failed:
            return 0
        self.failed = True
        raise ConnectionResetError(104, "Connection reset by peer")


@pytest.mark.parametrize("terminated", [False, True])
def test_a_body_that_cannot_be_read_is_answered_by_flask_as_without_the_lane(
    paying_app: Flask, gateway: FakePaymentGateway, terminated: bool
) -> None:
    answers = []
    for served in (paying_app.wsgi_app, lane(paying_app).rest):
        environ = EnvironBuilder(
            f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}", method="POST", data=b"{}"
        ).get_environ()
        environ["wsgi.input"], environ["wsgi.input_terminated"] = Disconnecting(), terminated
        body, status, headers = run_wsgi_app(served, environ)
        answers.append((status, json.loads(b"".join(body))["error"]["code"], "X-Request-Id" in dict(headers)))
    assert answers[0] == answers[1] == ("400 BAD REQUEST", "request.malformed", True)


def test_behind_trusted_proxies_the_lane_sits_inside_proxy_fix(
    settings: Settings, clock: Clock, fake_channels: ChannelAdapters
) -> None:
    behind = create_app(replace(settings, trusted_proxy_hops=1), clock=clock, channels=fake_channels)
    try:
        served = behind.wsgi_app
        assert isinstance(served, ProxyFix) and isinstance(served.app, CallbackLane)
    finally:
        behind.extensions["engine"].dispose()


def test_a_failure_in_the_lane_is_answered_and_logged_by_flask_as_a_views_would_be(
    settings: Settings,
    clock: Clock,
    fake_channels: ChannelAdapters,
    caplog: pytest.LogCaptureFixture,
) -> None:
    broken = serving(settings, clock, fake_channels, BrokenGateway("wechat", MERCHANT, clock))
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="citytiles")
    try:
        path, sent = f"/callbacks/wechat-pay/{MERCHANT}", {"X-Request-Id": "trace-lane-0001"}
        by_lane = through_lane(broken).post(path, data=b"{}", headers=sent)
        by_flask = through_flask(broken).post(path, data=b"{}", headers={"X-Request-Id": "trace-lane-0002"})
    finally:
        logger.removeHandler(caplog.handler)
        broken.extensions["engine"].dispose()
    assert by_lane.status_code == 500 and by_lane.headers["X-Request-Id"] == "trace-lane-0001"
    assert by_lane.json == {  # the one error shape, no stack trace
        "error": {
            "code": "internal_error",
            "message": by_lane.json["error"]["message"],
            "details": {"request_id": "trace-lane-0001"},
        }  # type: ignore[index]
    }
    assert comparable(by_lane)[0::2] == comparable(by_flask)[0::2]
    failures = [r for r in caplog.records if r.name == "citytiles.errors"]
    assert [repr(r.exc_info[1]) for r in failures if r.exc_info] == [
        repr(RuntimeError("a bug in reading notifications"))
    ] * 2
    assert [getattr(r, "request_id", None) for r in failures] == ["trace-lane-0001", "trace-lane-0002"]
    lines = [json.loads(JSONFormatter().format(r)) for r in caplog.records if r.name == "citytiles.requests"]
    assert [(line["request_id"], line["status"], line["endpoint"]) for line in lines] == [
        ("trace-lane-0001", 500, "payment_callbacks.wechat_pay"),
        ("trace-lane-0002", 500, "payment_callbacks.wechat_pay"),
    ]


def test_the_lane_leaves_the_request_log_line_flask_would(
    paying_app: Flask, gateway: FakePaymentGateway, clock: Clock, caplog: pytest.LogCaptureFixture
) -> None:
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="citytiles.requests")
    path = f"/callbacks/{PATHS[gateway.channel]}/{MERCHANT}"
    try:
        for index, client in enumerate((through_lane(paying_app), through_flask(paying_app))):
            with paying_app.extensions["session_factory"]() as db:
                order = open_order(db, gateway, clock)
            delivery = gateway.pay(order.out_trade_no)
            answer = client.post(
                path, data=delivery.body, headers={**delivery.headers, "X-Request-Id": f"trace-log-000{index}"}
            )
            assert answer.headers["X-Request-Id"] == f"trace-log-000{index}"
        unsafe = through_lane(paying_app).post(path, data=b"{}", headers={"X-Request-Id": "not safe!"})
    finally:
        logger.removeHandler(caplog.handler)
    lines = [json.loads(JSONFormatter().format(r)) for r in caplog.records if r.name == "citytiles.requests"]
    for line in lines:
        assert isinstance(line.pop("duration_ms"), float)
        line.pop("at")
    endpoint = {"wechat": "payment_callbacks.wechat_pay", "alipay": "payment_callbacks.alipay"}[gateway.channel]
    shared = {"level": "info", "logger": "citytiles.requests", "message": "request", "method": "POST", "path": path}
    received = 204 if isinstance(gateway, AnsweringAsWeChat) else 200
    assert lines[:2] == [
        {**shared, "request_id": "trace-log-0000", "endpoint": endpoint, "status": received},
        {**shared, "request_id": "trace-log-0001", "endpoint": endpoint, "status": received},
    ]
    assert unsafe.headers["X-Request-Id"] != "not safe!" and len(unsafe.headers["X-Request-Id"]) == 16
    assert lines[2]["request_id"] == unsafe.headers["X-Request-Id"]


def test_a_hook_failing_on_a_failures_answer_is_answered_as_flask_answers_it(
    settings: Settings, clock: Clock, fake_channels: ChannelAdapters
) -> None:
    broken = serving(settings, clock, fake_channels, BrokenGateway("wechat", MERCHANT, clock))

    @broken.after_request
    def failing_hook(response: Any) -> Any:
        raise RuntimeError("a bug in an after-request hook")

    try:
        path = f"/callbacks/wechat-pay/{MERCHANT}"
        by_lane = through_lane(broken).post(path, data=b"{}")
        by_flask = through_flask(broken).post(path, data=b"{}")
    finally:
        broken.extensions["engine"].dispose()
    assert comparable(by_lane)[0::2] == comparable(by_flask)[0::2]
    for answer in (by_lane, by_flask):  # each with its own request id
        assert answer.status_code == 500 and answer.json["error"]["code"] == "internal_error"  # type: ignore[index]
