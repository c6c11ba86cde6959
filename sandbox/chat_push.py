"""Pushing a user's message to citytiles as the platforms do: wait a few seconds, try again, three tries in all.

WeChat waits 5 s for the account's server; with no answer (a timeout, or no connection) it tries
again with the same message, three tries in all. An answer of any kind ends it: the platform then
reads it, and never retries a wrong one. The Alipay life account is pushed the same way. Every try
is kept: its HTTP status (None without an answer), how long it took and what came back.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import requests

TRIES = 3
ANSWER_LIMIT = 4000  # characters of an answer shown by the helpers
# How a push ended: citytiles answered with a passive reply, took the message without one, or failed
# (no answer in three tries, or an answer the platform refuses: the user sees "service unavailable").
REPLIED = "replied"
ACCEPTED = "accepted"
FAILED = "failed"


@dataclass(frozen=True)
class Push:
    """One HTTP request to citytiles, as sent."""

    method: str
    url: str  # without the query
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes

    def describe(self) -> dict[str, object]:
        """JSON view for the helpers: a test can send it again, or change it first."""
        return {"url": self.url, "query": dict(self.query), "headers": dict(self.headers), "body": self.body.decode()}


@dataclass(frozen=True)
class Try:
    """One try and what came of it."""

    status: int | None  # None when no HTTP answer came
    elapsed_ms: int
    answer: bytes
    error: str | None  # "timeout", or the connection failure's name

    def describe(self) -> dict[str, object]:
        """JSON view for the helpers."""
        text = self.answer.decode("utf-8", errors="replace")[:ANSWER_LIMIT]
        return {"status": self.status, "elapsed_ms": self.elapsed_ms, "answer": text, "error": self.error}


@dataclass(frozen=True)
class ChatResult:
    """One message pushed to citytiles, every try, and what the platform made of the answer."""

    user: str
    msg_id: str | None
    pushed: Push  # the first try
    tries: list[Try]
    outcome: str  # REPLIED, ACCEPTED or FAILED
    reply: dict[str, str | None] | None  # {msg_type, content} of a passive reply
    reason: str | None  # why it failed

    def describe(self) -> dict[str, object]:
        """JSON view for the helpers."""
        return {
            "user": self.user,
            "msg_id": self.msg_id,
            "pushed": self.pushed.describe(),
            "tries": [made.describe() for made in self.tries],
            "outcome": self.outcome,
            "reply": self.reply,
            "reason": self.reason,
        }


def push(first: Push, again: Callable[[], Push], timeout_seconds: float, tries: int = TRIES) -> list[Try]:
    """Send first, then again() after each try that got no answer, up to tries in all."""
    made: list[Try] = []
    request = first
    while True:
        made.append(_send(request, timeout_seconds))
        if made[-1].status is not None or len(made) >= tries:
            return made
        request = again()


def _send(request: Push, timeout_seconds: float) -> Try:
    started = time.monotonic()
    status, answer, error = None, b"", None
    url = request.url + ("?" + urlencode(request.query) if request.query else "")
    try:
        with requests.Session() as session:
            session.trust_env = False  # loopback pushes must not go through a proxy
            response = session.request(
                request.method,
                url,
                data=request.body or None,
                headers=request.headers,
                timeout=timeout_seconds,
                allow_redirects=False,  # a redirect is no answer a platform follows
            )
            status, answer = response.status_code, response.content
    except requests.Timeout:
        error = "timeout"
    except requests.RequestException as exc:
        error = type(exc).__name__
    return Try(status, round((time.monotonic() - started) * 1000), answer, error)


def timestamp_and_nonce() -> tuple[str, str]:
    """A fresh timestamp (seconds) and nonce for one try."""
    return str(int(time.time())), str(secrets.randbelow(10**10))


class MessageIds:
    """MsgIds: positive 64-bit integers (as text), never the same twice in one sandbox."""

    def __init__(self) -> None:
        self._issued: set[str] = set()
        self._lock = threading.Lock()

    def new(self) -> str:
        """A MsgId not issued before."""
        with self._lock:
            while True:
                candidate = str(secrets.randbits(63) | (1 << 62))  # 19 digits, like WeChat's
                if candidate not in self._issued:
                    self._issued.add(candidate)
                    return candidate
