"""Chat end to end: the sandbox plays WeChat (and its users) and pushes to citytiles served over HTTP on loopback."""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from app import create_app
from app.request_log import JSONFormatter
from tests.app.test_housing_fund_api import CONSENT
from tests.app.test_housing_fund_api import new_person
from tests.app.test_housing_fund_api import open_account
from tests.chat.pushes import OFFICIAL_ACCOUNT
from tests.conftest import WECHAT_MINI_PROGRAM as MINI
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import Sandbox

HANGZHOU = "330100"


class Citytiles:
    """One HTTP server on a fixed loopback port, serving whichever app the current test made."""

    def __init__(self) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.app: Flask | None = None
        self.server = make_server("127.0.0.1", self.port, self._serve, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def _serve(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        assert self.app is not None, "no app for this test"
        return self.app(environ, start_response)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture(scope="module")
def citytiles() -> Iterator[Citytiles]:
    served = Citytiles()
    yield served
    served.stop()


@pytest.fixture(scope="module")
def chat_sandbox(citytiles: Citytiles, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Sandbox]:
    """A sandbox whose WeChat pushes to the citytiles served here."""
    from sandbox.server import serve_in_thread
    from sandbox.settings import SandboxConfig

    state_dir = tmp_path_factory.mktemp("chat-sandbox")
    base, stop = serve_in_thread(SandboxConfig(state_dir=state_dir, citytiles_url=f"http://127.0.0.1:{citytiles.port}"))
    yield Sandbox(base, state_dir)
    stop()


@pytest.fixture
def app(
    chat_sandbox: Sandbox, citytiles: Citytiles, database_url: str, clock: Clock, tmp_path: Path
) -> Iterator[Flask]:
    chat_sandbox.helper("DELETE", "faults")
    settings = chat_sandbox.service_settings(tmp_path, database_url=database_url, app_env="test")
    application = create_app(replace(settings, chat_reply_seconds=1.5), clock=clock)
    clock.now = datetime.now(UTC)  # the sandbox's users write now
    citytiles.app = application
    from city_services.seeding import read_seed
    from city_services.seeding import seed_catalogue

    with application.extensions["session_factory"]() as session:
        seed_catalogue(session, read_seed(settings.catalogue_seed), now=clock())
    yield application
    citytiles.app = None
    chat_sandbox.helper("DELETE", "faults")
    application.extensions["tasks"].drain()
    application.extensions["engine"].dispose()


@pytest.fixture
def logged(app: Flask) -> Iterator[list[str]]:
    """Every line citytiles logs during the test, as its JSON formatter writes it (extras included)."""
    lines: list[str] = []
    formatter = JSONFormatter()

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(formatter.format(record))

    handler = Keep(level=logging.DEBUG)
    logger = logging.getLogger("citytiles")
    logger.addHandler(handler)
    yield lines
    logger.removeHandler(handler)


def chat(sandbox: Sandbox, **message: Any) -> dict[str, Any]:
    answer: dict[str, Any] = sandbox.helper(
        "POST", "chat", json={"channel": "wechat", "app_id": OFFICIAL_ACCOUNT, **message}
    )
    return answer


def test_a_follower_verified_in_the_mini_program_gets_the_balance_and_asks_a_car_to_move(
    api: Api, app: Flask, chat_sandbox: Sandbox, logged: list[str]
) -> None:
    person = new_person("周八")
    open_account(chat_sandbox, HANGZHOU, person, balance_fen=1_234_567, monthly_fen=200_000)
    login = chat_sandbox.wechat_code(MINI, real_name=person.name, id_number=person.id_number)
    me = {"person": {"app_id": MINI, "openid": login["openid"]}}

    followed = chat(chat_sandbox, event={"type": "subscribe"}, **me)
    assert followed["outcome"] == "replied" and "欢迎关注" in followed["reply"]["content"]
    openid = followed["user"]
    unverified = chat(chat_sandbox, text="公积金", user=openid)
    assert "先实名认证" in unverified["reply"]["content"]

    # The same person verifies in the mini-program: one resident, by the unionid WeChat gives both apps.
    token = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": login["code"]}, expected=201
    )["token"]
    claim = {"name": person.name, "id_number": person.id_number, "consent_version": CONSENT}
    api.post("/api/v1/me/real-name", json=claim, token=token)
    balance = chat(chat_sandbox, text="公积金", user=openid)
    assert balance["outcome"] == "replied"
    assert "12,345.67 元" in balance["reply"]["content"] and "2,000.00 元" in balance["reply"]["content"]

    chat(chat_sandbox, text="挪车 浙A12345", user=openid)
    moved = chat(
        chat_sandbox, location={"latitude": 30.2741, "longitude": 120.1551, "label": "杭州市西湖区"}, user=openid
    )
    assert "已请车主挪车" in moved["reply"]["content"]
    sent = api.get("/api/v1/me/sent-car-move-requests", token=token)["requests"]
    assert [r["plate"] for r in sent] == ["浙A***45"]
    assert sent[0]["location"] == {"lat": 30.2741, "lng": 120.1551}

    # Nothing personal in any log line: not the openid, the name, the ID number, the plate, the balance or the place.
    text = "\n".join(logged)
    assert logged
    for personal in (openid, person.name, person.id_number, "浙A12345", "12,345.67", "1234567", "30.2741", "120.1551"):
        assert personal not in text, personal


def test_safe_mode_through_the_sandbox(app: Flask, chat_sandbox: Sandbox) -> None:
    answer = chat(chat_sandbox, text="帮助", encrypted=True)
    assert answer["outcome"] == "replied" and "挪车 浙A12345" in answer["reply"]["content"]
    assert len(answer["tries"]) == 1


def test_a_slow_upstream_gets_success_at_once_and_the_balance_as_a_customer_service_message(
    api: Api, app: Flask, chat_sandbox: Sandbox
) -> None:
    person = new_person("吴九")
    open_account(chat_sandbox, HANGZHOU, person, balance_fen=765_432, monthly_fen=100_000)
    login = chat_sandbox.wechat_code(MINI, real_name=person.name, id_number=person.id_number)
    token = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": login["code"]}, expected=201
    )["token"]
    api.post(
        "/api/v1/me/real-name",
        json={"name": person.name, "id_number": person.id_number, "consent_version": CONSENT},
        token=token,
    )
    chat_sandbox.helper(
        "POST",
        "faults",
        json={"target": "housing_fund.hangzhou_gjj", "mode": "slow", "delay_seconds": 3, "persistent": True},
    )
    started = time.monotonic()
    answer = chat(chat_sandbox, text="公积金", person={"app_id": MINI, "openid": login["openid"]})
    assert answer["outcome"] == "accepted" and answer["reply"] is None
    assert len(answer["tries"]) == 1 and time.monotonic() - started < 5  # WeChat never retried
    deadline = time.monotonic() + 15
    texts: list[str] = []
    while time.monotonic() < deadline and not texts:
        listed = chat_sandbox.helper("GET", f"messages?channel=wechat&user={answer['user']}")
        texts = [m["text"] for m in json_list(listed) if m.get("kind") == "customer_service"]
        time.sleep(0.2)
    assert len(texts) == 1 and "7,654.32 元" in texts[0]


def json_list(listed: Any) -> list[dict[str, Any]]:
    """The sandbox's message list, whatever it is wrapped in."""
    if isinstance(listed, dict):
        for value in listed.values():
            if isinstance(value, list):
                return value
    return list(listed)


def test_a_follower_logging_in_silently_to_the_accounts_pages_is_the_same_resident(
    api: Api, app: Flask, chat_sandbox: Sandbox
) -> None:
    mini = chat_sandbox.wechat_code(MINI)
    mini_token = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": mini["code"]}, expected=201
    )
    followed = chat(chat_sandbox, event={"type": "subscribe"}, person={"app_id": MINI, "openid": mini["openid"]})
    # snsapi_base gives the openid alone; the account asks user/info for its follower's unionid.
    silent = chat_sandbox.wechat_code(OFFICIAL_ACCOUNT, openid=followed["user"], scope="snsapi_base")
    body = {"channel": "wechat", "app_id": OFFICIAL_ACCOUNT, "code": silent["code"]}
    web_token = api.post("/api/v1/sessions", json=body, expected=201)
    assert (
        api.get("/api/v1/me", token=web_token["token"])["id"] == api.get("/api/v1/me", token=mini_token["token"])["id"]
    )
    # Someone who does not follow gets no unionid that way: a resident of their own until they follow or consent.
    stranger = chat_sandbox.wechat_code(OFFICIAL_ACCOUNT, scope="snsapi_base")
    body = {"channel": "wechat", "app_id": OFFICIAL_ACCOUNT, "code": stranger["code"]}
    other = api.post("/api/v1/sessions", json=body, expected=201)
    assert api.get("/api/v1/me", token=other["token"])["id"] != api.get("/api/v1/me", token=mini_token["token"])["id"]


LIFE_ACCOUNT, ALIPAY_MINI = "2021004100000002", "2021004100000001"


def customer_service(sandbox: Sandbox, channel: str, user: str, count: int = 1) -> list[str]:
    """The customer-service messages the channel showed the user, waited for (the task sends them)."""
    deadline, texts = time.monotonic() + 15, []
    while time.monotonic() < deadline and len(texts) < count:
        listed = sandbox.helper("GET", f"messages?channel={channel}&user={user}")
        texts = [m["text"] for m in json_list(listed) if m.get("kind") == "customer_service"]
        time.sleep(0.2)
    return texts


def test_alipay_checks_the_gateway_and_a_life_account_follower_gets_answers_through_the_message_api(
    api: Api, app: Flask, chat_sandbox: Sandbox, logged: list[str]
) -> None:
    checked = chat_sandbox.helper("POST", "alipay/verify-gateway", json={"app_id": LIFE_ACCOUNT})
    assert checked["passed"] is True, checked
    person = new_person("郑十")
    open_account(chat_sandbox, HANGZHOU, person, balance_fen=3_456_789, monthly_fen=150_000)
    login = chat_sandbox.alipay_code(real_name=person.name, id_number=person.id_number)
    body = {"channel": "alipay", "app_id": ALIPAY_MINI, "code": login["auth_code"]}
    token = api.post("/api/v1/sessions", json=body, expected=201)["token"]
    api.post("/api/v1/me/real-name", json={"name": person.name, "id_number": person.id_number,
                                            "consent_version": CONSENT}, token=token)  # fmt: skip
    me = {"person": {"app_id": ALIPAY_MINI, "open_id": login["open_id"]}}
    asked = chat_sandbox.helper(
        "POST", "chat", json={"channel": "alipay", "app_id": LIFE_ACCOUNT, "text": "公积金", **me}
    )
    assert asked["outcome"] == "accepted" and len(asked["tries"]) == 1
    texts = customer_service(chat_sandbox, "alipay", asked["user"])
    assert len(texts) == 1 and "34,567.89 元" in texts[0]
    chat_sandbox.helper(
        "POST", "chat", json={"channel": "alipay", "app_id": LIFE_ACCOUNT, "text": "挪车 浙AD12345", **me}
    )
    place = {"latitude": 30.2741, "longitude": 120.1551, "label": "杭州市西湖区"}
    chat_sandbox.helper("POST", "chat", json={"channel": "alipay", "app_id": LIFE_ACCOUNT, "location": place, **me})
    texts = customer_service(chat_sandbox, "alipay", asked["user"], count=3)
    assert "已请车主挪车，车牌 浙A****45" in texts[-1]
    sent = api.get("/api/v1/me/sent-car-move-requests", token=token)["requests"]
    assert [r["plate"] for r in sent] == ["浙A****45"]
    text = "\n".join(logged)
    for personal in (asked["user"], person.name, person.id_number, "浙AD12345", "34,567.89", "3456789", "30.2741"):
        assert personal not in text, personal


def test_erasing_a_resident_erases_what_they_said_and_where_they_were(
    api: Api, app: Flask, chat_sandbox: Sandbox
) -> None:
    from sqlalchemy import func
    from sqlalchemy import select

    from chat.models import ChatFollower
    from chat.models import ChatMessage

    login = chat_sandbox.wechat_code(MINI)
    me = {"person": {"app_id": MINI, "openid": login["openid"]}}
    chat(chat_sandbox, text="挪车 浙A12345", **me)
    chat(chat_sandbox, text="进度", **me)
    stranger = chat(chat_sandbox, text="帮助")  # someone else, who stays
    token = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": MINI, "code": login["code"]}, expected=201
    )
    with app.extensions["session_factory"]() as session:
        assert session.scalar(select(func.count()).select_from(ChatMessage)) == 3
        assert session.scalar(select(ChatFollower.plate_sealed).where(ChatFollower.user_id != stranger["user"]))
    api.delete("/api/v1/me", token=token["token"], expected=204)
    with app.extensions["session_factory"]() as session:
        assert session.scalar(select(func.count()).select_from(ChatMessage)) == 1
        assert session.scalars(select(ChatFollower.user_id)).all() == [stranger["user"]]
