"""What the payment tests share: the real SDK clients on the sandbox, a notification receiver, polling."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from typing import Any
from typing import TypeVar

from flask import Flask
from flask import Response
from flask import request
from wechatpayv3 import WeChatPay
from wechatpayv3 import WeChatPayType
from werkzeug.serving import make_server

MERCHANT = "1900000109"
MINI_PROGRAM = "wx7c1b5d1e2f3a4b50"
ALIPAY_APP = "2021004100000001"
T = TypeVar("T")


@dataclass(frozen=True)
class Received:
    """One notification as it reached the receiver."""

    path: str
    headers: dict[str, str]
    body: bytes
    form: dict[str, str]
    at: float


@dataclass
class Receiver:
    """A merchant's notify_url: answers from a script (then a default), and keeps what it got."""

    base: str
    received: list[Received] = field(default_factory=list)
    script: list[tuple[int, bytes]] = field(default_factory=list)
    default: tuple[int, bytes] = (200, b"")
    delay_seconds: float = 0.0  # how long it thinks before answering
    lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "notify") -> str:
        """A notify_url on this receiver."""
        return f"{self.base}/{path}"

    def answer_with(self, *answers: tuple[int, bytes], then: tuple[int, bytes] = (200, b"")) -> None:
        """Answer the next notifications with answers, in order, and every later one with then."""
        with self.lock:
            self.script, self.default = list(answers), then

    def got(self, count: int, timeout: float = 5.0) -> list[Received]:
        """The first count notifications, waiting for them up to timeout seconds."""
        return poll(lambda: self.snapshot()[:count], lambda got: len(got) >= count, timeout)

    def snapshot(self) -> list[Received]:
        """Everything received so far."""
        with self.lock:
            return list(self.received)

    def take(self, received: Received) -> tuple[int, bytes]:
        """Record one notification; the answer it gets."""
        with self.lock:
            self.received.append(received)
            return self.script.pop(0) if self.script else self.default


def start_receiver() -> tuple[Receiver, Callable[[], None]]:
    """A receiver on 127.0.0.1 in a thread, and the function that stops it."""
    app = Flask("notify_receiver")
    server = make_server("127.0.0.1", 0, app, threaded=True)
    receiver = Receiver(f"http://127.0.0.1:{server.server_port}")

    @app.post("/<path:path>")
    def notify(path: str) -> Response:
        body = request.get_data()
        form = request.form.to_dict() if request.mimetype == "application/x-www-form-urlencoded" else {}
        status, answer = receiver.take(Received(path, dict(request.headers), body, form, time.time()))
        time.sleep(receiver.delay_seconds)
        return Response(answer, status=status, content_type="text/plain")

    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()

    def stop() -> None:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return receiver, stop


def poll(read: Callable[[], T], done: Callable[[T], bool], timeout: float = 5.0) -> T:
    """read() until done(value) or the deadline; the last value (the caller's assert says what was wrong)."""
    deadline = time.monotonic() + timeout
    value = read()
    while not done(value) and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value


def merchant_file(sandbox: Any, name: str) -> str:
    """One of the demo merchant's credential files, as citytiles' demo configuration reads it."""
    folder = sandbox.config.state_dir / ("wechat_pay" if name == "apiv3_key" else "public/wechat_pay") / MERCHANT
    return str((folder / name).read_text())


def wechat_pay(
    sandbox: Any,
    notify_url: str | None = None,
    appid: str = MINI_PROGRAM,
    private_key: str | None = None,
    serial_no: str | None = None,
    apiv3_key: str | None = None,
) -> WeChatPay:
    """wechatpayv3 in public-key mode with the demo merchant's files, pointed at the sandbox."""
    client = WeChatPay(
        wechatpay_type=WeChatPayType.MINIPROG,
        mchid=MERCHANT,
        private_key=private_key or merchant_file(sandbox, "apiclient_key.pem"),
        cert_serial_no=serial_no or merchant_file(sandbox, "apiclient_serial_no"),
        appid=appid,
        apiv3_key=apiv3_key or merchant_file(sandbox, "apiv3_key"),
        notify_url=notify_url,
        public_key=merchant_file(sandbox, "pub_key.pem"),
        public_key_id=merchant_file(sandbox, "pub_key_id"),
        timeout=(2, 5),
    )
    client._core._gate_way = sandbox.base
    return client


def order_number(prefix: str = "CT") -> str:
    """A fresh out_trade_no (letters and digits only, valid on both channels)."""
    return prefix + uuid.uuid4().hex[:20].upper()


def helper_json(sandbox: Any, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
    """Call a helper, check its status, and return its JSON."""
    response = sandbox.helper(method, path, **kwargs)
    assert response.status_code == status, response.text
    return response.json()
