"""Fixtures: a sandbox on 127.0.0.1:0 in a thread, and the real SDKs pointed at it."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import requests
from alipay import AliPay
from flask import Flask
from flask import jsonify
from flask import request
from wechatpy.session.memorystorage import MemoryStorage
from werkzeug.serving import make_server

from channels.wechat.client import StableTokenClient
from sandbox.server import serve_in_thread
from sandbox.settings import SandboxConfig
from tests.sandbox.chat_citytiles import StandIn
from tests.sandbox.chat_citytiles import start_stand_in
from tests.sandbox.pay_clients import Receiver
from tests.sandbox.pay_clients import start_receiver

MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
OFFICIAL_ACCOUNT = "wx9a8b7c6d5e4f3a20"
ALIPAY_APP = "2021004100000001"
# Notice templates of the demo apps (sandbox/notice_templates.py), and data that fills them.
WECHAT_CAR_MOVE = "CarMoveOwnerNotice-2bQ9wL0xVt7pKs3Rj5Ym8NdA"
ALIPAY_CAR_MOVE = "Y2l0eXRpbGVzOmNhci1tb3ZlLW93bmVyLW5vdGljZQ=="
CAR_MOVE_DATA = {
    "car_number1": {"value": "浙A12345"},
    "thing2": {"value": "文三路与学院路口"},
    "time3": {"value": "2024-01-01 10:00"},
    "thing4": {"value": "您的车挡住了出口"},
}


@dataclass
class RunningSandbox:
    """A sandbox serving in a thread, with an HTTP session for its helper endpoints."""

    base: str
    config: SandboxConfig
    http: requests.Session

    def helper(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        """Call a /_sandbox/ helper."""
        return self.http.request(method, self.base + "/_sandbox/" + path.lstrip("/"), timeout=10, **kwargs)

    def login_code(self, **body: Any) -> dict[str, Any]:
        """A WeChat login code for a (new or known) simulated person."""
        response = self.helper("POST", "wechat/login-code", json={"app_id": MINI_PROGRAM, **body})
        assert response.status_code == 200, response.text
        return response.json()

    def auth_code(self, **body: Any) -> dict[str, Any]:
        """An Alipay auth code for a (new or known) simulated user."""
        response = self.helper("POST", "alipay/auth-code", json={"app_id": ALIPAY_APP, **body})
        assert response.status_code == 200, response.text
        return response.json()

    def subscribe(self, openid: str, template_id: str = WECHAT_CAR_MOVE, app_id: str = MINI_PROGRAM) -> int:
        """The WeChat user accepts one subscription to template_id; their credits for it afterwards."""
        body = {"app_id": app_id, "openid": openid, "template_id": template_id}
        response = self.helper("POST", "wechat/subscribe", json=body)
        assert response.status_code == 200, response.text
        return int(response.json()["credits"])

    def alipay_subscribe(self, user_id: str, template_id: str = ALIPAY_CAR_MOVE, app_id: str = ALIPAY_APP) -> int:
        """The Alipay user accepts one subscription to template_id; their credits for it afterwards."""
        body = {"app_id": app_id, "user_id": user_id, "template_id": template_id}
        response = self.helper("POST", "alipay/subscribe", json=body)
        assert response.status_code == 200, response.text
        return int(response.json()["credits"])

    def secret(self, app_id: str) -> str:
        """A WeChat app secret, read from the state directory as citytiles' demo config does."""
        return (self.config.state_dir / "wechat" / f"{app_id}.secret").read_text().strip()

    def wechat(
        self, app_id: str = MINI_PROGRAM, secret: str | None = None, session: Any = None, timeout: float = 10
    ) -> StableTokenClient:
        """citytiles' wechatpy client for app_id (with its real secret unless one is given), on the sandbox."""
        return StableTokenClient(
            app_id,
            secret or self.secret(app_id),
            base_url=self.base,
            storage=session if session is not None else MemoryStorage(),
            timeout=timeout,
        )

    def alipay(
        self, app_id: str = ALIPAY_APP, app_private_key: str | None = None, alipay_public_key: str | None = None
    ) -> AliPay:
        """A python-alipay-sdk client using the key files the sandbox wrote into public/."""
        public = self.config.state_dir / "public"
        client = AliPay(
            appid=app_id,
            app_private_key_string=app_private_key or (public / "alipay_app_private_key.pem").read_text(),
            alipay_public_key_string=alipay_public_key or (public / "alipay_public_key.pem").read_text(),
            sign_type="RSA2",
        )
        client._gateway = self.base + "/gateway.do"
        return client


def start_sandbox(state_dir: Path, **overrides: Any) -> tuple[RunningSandbox, Callable[[], None]]:
    """Start a sandbox in a thread; returns it and its stop function."""
    config = SandboxConfig(state_dir=state_dir, **overrides)
    base, stop = serve_in_thread(config)
    http = requests.Session()
    http.trust_env = False
    return RunningSandbox(base, config, http), stop


@pytest.fixture(scope="session", autouse=True)
def loopback_without_proxy() -> Iterator[None]:
    """urllib (python-alipay-sdk) honours *_proxy variables; keep loopback calls direct."""
    saved = {key: os.environ.get(key) for key in ("NO_PROXY", "no_proxy")}
    for key in saved:
        os.environ[key] = ",".join(filter(None, [saved[key], "127.0.0.1", "localhost"]))
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


@pytest.fixture(scope="session")
def fake_citytiles() -> Iterator[dict[str, Any]]:
    """A stand-in citytiles that echoes what reached it, for the sandbox's proxy."""
    app = Flask("fake_citytiles")
    seen: list[dict[str, Any]] = []

    @app.route("/<path:path>", methods=["GET", "POST", "DELETE", "PUT", "PATCH"])
    def echo(path: str) -> Any:
        seen.append(
            {
                "method": request.method,
                "path": path,
                "query": request.query_string.decode(),
                "authorization": request.headers.get("Authorization"),
                "body": request.get_data(as_text=True),
            }
        )
        if path == "api/v1/broken":
            return jsonify({"error": {"code": "demo.broken", "message": "it broke", "details": {}}}), 422
        return jsonify({"echo": seen[-1]})

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield {"url": f"http://127.0.0.1:{server.server_port}", "seen": seen}
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="session")
def sandbox(tmp_path_factory: pytest.TempPathFactory, fake_citytiles: dict[str, Any]) -> Iterator[RunningSandbox]:
    """The shared sandbox: normal token lifetimes, a low login quota so 45011 is reachable."""
    running, stop = start_sandbox(
        tmp_path_factory.mktemp("sandbox-state"),
        citytiles_url=fake_citytiles["url"],
        token_ttl_seconds=600,
        token_grace_seconds=30,
        code_ttl_seconds=60,
        login_rate_limit_per_minute=5,
    )
    yield running
    stop()


@pytest.fixture(scope="module")
def short_clock_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox whose tokens live 2 s with a 1 s grace period, for rotation and expiry."""
    running, stop = start_sandbox(tmp_path_factory.mktemp("short-clock"), token_ttl_seconds=2, token_grace_seconds=1)
    yield running
    stop()


@pytest.fixture
def spawn_sandbox(tmp_path: Path) -> Iterator[Callable[..., RunningSandbox]]:
    """Start extra sandboxes (own state dir each) for one test; all are stopped afterwards."""
    stops: list[Callable[[], None]] = []

    def spawn(name: str, **overrides: Any) -> RunningSandbox:
        running, stop = start_sandbox(tmp_path / name, **overrides)
        stops.append(stop)
        return running

    yield spawn
    for stop in stops:
        stop()


@pytest.fixture
def faults(sandbox: RunningSandbox) -> Iterator[Callable[..., requests.Response]]:
    """Arm faults on the shared sandbox; every fault is cleared after the test."""

    def arm(**body: Any) -> requests.Response:
        return sandbox.helper("POST", "faults", json=body)

    yield arm
    sandbox.helper("DELETE", "faults")


@pytest.fixture(scope="session")
def pay_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningSandbox]:
    """A sandbox for the payment tests: retries 10 000 times faster, refunds settle in 50 ms, 1 s to answer."""
    running, stop = start_sandbox(
        tmp_path_factory.mktemp("pay-sandbox"),
        notify_compression=10_000,
        notify_timeout_seconds=1.0,
        refund_settle_seconds=0.05,
    )
    yield running
    stop()


@pytest.fixture
def pay_faults(pay_sandbox: RunningSandbox) -> Iterator[Callable[..., requests.Response]]:
    """Arm faults on the payment sandbox; every fault is cleared after the test."""

    def arm(**body: Any) -> requests.Response:
        return pay_sandbox.helper("POST", "faults", json=body)

    yield arm
    pay_sandbox.helper("DELETE", "faults")


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A merchant's notify_url on loopback, answering 200 unless told otherwise."""
    running, stop = start_receiver()
    yield running
    stop()


@pytest.fixture(scope="session")
def chat_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunningSandbox, StandIn]]:
    """A sandbox pushing chat messages to a stand-in citytiles that reads the sandbox's credential files."""
    stand_in, stop_stand_in = start_stand_in()
    state = tmp_path_factory.mktemp("chat-state")
    running, stop = start_sandbox(state, citytiles_url=stand_in.base, chat_reply_timeout_seconds=1.0)
    stand_in.state_dir = state
    yield running, stand_in
    stop()
    stop_stand_in()


@pytest.fixture
def chat_sandbox(chat_pair: tuple[RunningSandbox, StandIn]) -> RunningSandbox:
    """The chat sandbox (its people and followers are shared by the session's chat tests)."""
    return chat_pair[0]


@pytest.fixture
def stand_in(chat_pair: tuple[RunningSandbox, StandIn]) -> StandIn:
    """The stand-in citytiles, with nothing heard and nothing scripted."""
    chat_pair[1].answer_with()
    return chat_pair[1]


@pytest.fixture(scope="module")
def bill_state(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state directory whose keys every bill sandbox of a module reuses (made once, on the first start)."""
    return tmp_path_factory.mktemp("bill-state")


@pytest.fixture
def bill_sandbox_with(bill_state: Path) -> Iterator[Callable[..., RunningSandbox]]:
    """Start sandboxes of the test's own (nothing in their ledgers but what the test pays), with overrides."""
    stops: list[Callable[[], None]] = []

    def start(**overrides: Any) -> RunningSandbox:
        settings = {"notify_compression": 10_000, "refund_settle_seconds": 0.05, **overrides}
        running, stop = start_sandbox(bill_state, **settings)
        stops.append(stop)
        return running

    yield start
    for stop in stops:
        stop()


@pytest.fixture
def bill_sandbox(bill_sandbox_with: Callable[..., RunningSandbox]) -> RunningSandbox:
    """A sandbox of the test's own, so a day's bill holds exactly what the test paid."""
    return bill_sandbox_with()
