"""Payment and refund notifications: posted to the merchant's notify_url, again and again until acknowledged.

Each channel decides what counts as an acknowledgement and when it tries again:

* WeChat Pay: HTTP 200 or 204, whatever the body (a 200 carrying {"code": "FAIL"} is an
  acknowledgement too: the status wins). Tries again 15s, 15s, 30s, 3m, 10m, 20m, 30m, 30m, 30m,
  60m, 3h, 3h, 3h, 6h, 6h after each failure: 16 tries in 24 h 4 min.
* Alipay: HTTP 200 with the body exactly `success` (7 bytes: no quotes, spaces or newline). Tries
  again 4m, 10m, 10m, 1h, 2h, 6h, 15h after each failure: 8 tries in about 25 h.

The intervals are divided by SandboxConfig.notify_compression. A connection refused or reset, or no
answer within notify_timeout_seconds, is a failed try like any other. Every try is recorded with its
time, HTTP status and (the start of) the answer.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from sandbox.pay_clock import PayClock
from sandbox.payments import ALIPAY
from sandbox.payments import WECHAT_PAY
from sandbox.payments import OrderKey
from sandbox.payments import beijing_moment

# channel -> minutes to wait after each failed try (one entry per retry).
RETRY_MINUTES: dict[str, tuple[float, ...]] = {
    WECHAT_PAY: (0.25, 0.25, 0.5, 3, 10, 20, 30, 30, 30, 60, 180, 180, 180, 360, 360),
    ALIPAY: (4, 10, 10, 60, 120, 360, 900),
}
ANSWER_LIMIT = 200  # characters of each answer kept in the record


def _wechat_pay_acknowledged(status: int, answer: bytes) -> bool:
    return status in (200, 204)


def _alipay_acknowledged(status: int, answer: bytes) -> bool:
    return status == 200 and answer == b"success"


ACKNOWLEDGED: dict[str, Callable[[int, bytes], bool]] = {
    WECHAT_PAY: _wechat_pay_acknowledged,
    ALIPAY: _alipay_acknowledged,
}


@dataclass(frozen=True)
class Notification:
    """One notification: the same body on every try."""

    notification_id: str
    channel: str
    order_key: OrderKey
    kind: str  # payment or refund
    event: str  # WeChat event_type, or the Alipay trade_status
    url: str
    body: bytes
    headers: dict[str, str]  # of the first try
    # Body and headers for a later try, signed afresh: WeChat with a new timestamp and nonce, Alipay with
    # a new notify_time (the notify_id stays the same across tries).
    later_try: Callable[[], tuple[bytes, dict[str, str]]]

    def describe(self) -> dict[str, object]:
        """What is sent, for the helper API: a test can send it again, or change it first."""
        return {"url": self.url, "method": "POST", "headers": dict(self.headers), "body": self.body.decode("utf-8")}


@dataclass(frozen=True)
class Delivery:
    """One try to deliver a notification, and how it went."""

    notification_id: str
    kind: str
    event: str
    attempt: int
    at: float
    status: int | None  # None when no HTTP answer came
    answer: str
    error: str | None
    acknowledged: bool

    def describe(self) -> dict[str, object]:
        """JSON view for the helper API."""
        return {
            "notification_id": self.notification_id,
            "kind": self.kind,
            "event": self.event,
            "attempt": self.attempt,
            "at": beijing_moment(self.at),
            "status": self.status,
            "answer": self.answer,
            "error": self.error,
            "acknowledged": self.acknowledged,
        }


class Notifier:
    """Sends notifications from the payment clock's workers and keeps every try."""

    def __init__(self, clock: PayClock, compression: float, timeout_seconds: float) -> None:
        self._clock = clock
        self._compression = compression
        self._timeout = timeout_seconds
        self._deliveries: dict[OrderKey, list[Delivery]] = {}
        self._lock = threading.Lock()

    def send(self, notification: Notification) -> None:
        """Deliver notification from now on, in the background."""
        self._clock.later(0, lambda: self._try(notification, 1))

    def deliveries(self, key: OrderKey) -> list[Delivery]:
        """Every try for the order's notifications, oldest first."""
        with self._lock:
            return list(self._deliveries.get(key, []))

    def _try(self, notification: Notification, attempt: int) -> None:
        body, headers = (notification.body, notification.headers) if attempt == 1 else notification.later_try()
        started = time.time()
        status, answer, error = None, b"", None
        try:
            with requests.Session() as session:
                session.trust_env = False  # loopback notifications must not go through a proxy
                response = session.post(
                    notification.url,
                    data=body,
                    headers=headers,
                    timeout=self._timeout,
                    allow_redirects=False,  # a redirect is not an acknowledgement
                )
                status, answer = response.status_code, response.content
        except requests.Timeout:
            error = "timeout"
        except requests.RequestException as exc:
            error = type(exc).__name__
        acknowledged = status is not None and ACKNOWLEDGED[notification.channel](status, answer)
        delivery = Delivery(
            notification_id=notification.notification_id,
            kind=notification.kind,
            event=notification.event,
            attempt=attempt,
            at=started,
            status=status,
            answer=answer.decode("utf-8", errors="replace")[:ANSWER_LIMIT],
            error=error,
            acknowledged=acknowledged,
        )
        with self._lock:
            self._deliveries.setdefault(notification.order_key, []).append(delivery)
        schedule = RETRY_MINUTES[notification.channel]
        if not acknowledged and attempt <= len(schedule):
            wait = schedule[attempt - 1] * 60 / self._compression
            self._clock.later(wait, lambda: self._try(notification, attempt + 1))
