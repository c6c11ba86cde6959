"""Outbound.call: what counts as a failure, what is retried, when the breaker opens, and what is logged."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from http.server import ThreadingHTTPServer
from typing import Any

import pytest
import requests

from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.breaker import CLOSED
from outbound.breaker import OPEN
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MemoryCallLog
from outbound.health import figures_of
from outbound.http import http_session
from outbound.policy import CallPolicy
from tests.concurrency import run_together

POLICY = CallPolicy(timeout_seconds=0.5, max_concurrent_calls=4, failure_threshold=3, reset_seconds=30, read_retries=2)
CONNECTION = "330100.housing_fund"


class Upstream(BaseHTTPRequestHandler):
    """Answers GET /<status>[/<delay>] with that status after that many seconds."""

    hits: list[str] = []

    def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
        Upstream.hits.append(self.path)
        parts = self.path.strip("/").split("/")
        if len(parts) > 1:
            time.sleep(float(parts[1]))
        body = json.dumps({"balance": "12.34"}).encode()
        self.send_response(int(parts[0]))
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that timed out and hung up is what these tests do on purpose


@pytest.fixture(scope="module")
def upstream() -> Iterator[str]:
    server = QuietServer(("127.0.0.1", 0), Upstream)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def changes() -> list[tuple[str, str]]:
    return []


@pytest.fixture
def outbound(clock: Clock, changes: list[tuple[str, str]]) -> Outbound:
    breakers = Breakers(MemoryBreakerStore(), on_change=lambda c, s: changes.append((c, s)), clock=clock)
    return Outbound(breakers, Bulkheads(wait_seconds=0.05), MemoryCallLog(), sleep=lambda _: None)


def fetch(url: str) -> Any:
    response = http_session(4).get(url, timeout=POLICY.timeout_seconds)
    response.raise_for_status()
    return response.json()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_good_answer_is_returned_and_logged_once_without_its_content(
    outbound: Outbound, upstream: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="citytiles.outbound")
    assert outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/200"), safe=True) == {
        "balance": "12.34"
    }
    lines = [r for r in caplog.records if r.getMessage() == "outbound call"]
    assert len(lines) == 1
    assert (lines[0].connection, lines[0].operation, lines[0].outcome, lines[0].attempts) == (  # type: ignore[attr-defined]
        CONNECTION,
        "account",
        "ok",
        1,
    )
    assert "12.34" not in caplog.text


@pytest.mark.parametrize("path", ["/500", "/502", "/200/2"])
def test_http_errors_and_timeouts_become_unavailable_with_a_retry_after(
    outbound: Outbound, upstream: str, path: str
) -> None:
    started = time.perf_counter()
    with pytest.raises(UpstreamUnavailable) as raised:
        outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + path))
    assert raised.value.code == "upstream.unavailable"
    assert raised.value.retry_after >= 1
    assert time.perf_counter() - started < 1.5  # the timeout held: no waiting for the slow answer
    assert outbound.breakers.view(CONNECTION).failures == 1


def test_a_refused_connection_is_unavailable(outbound: Outbound) -> None:
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", POLICY, lambda: fetch(f"http://127.0.0.1:{closed_port()}/"))


def test_a_safe_read_is_retried_and_a_write_is_not(outbound: Outbound, upstream: str) -> None:
    Upstream.hits.clear()
    with pytest.raises(UpstreamUnavailable):
        outbound.call("a.read", "account", POLICY, lambda: fetch(upstream + "/503"), safe=True)
    assert len(Upstream.hits) == 1 + POLICY.read_retries
    Upstream.hits.clear()
    with pytest.raises(UpstreamUnavailable):
        outbound.call("a.write", "submit", POLICY, lambda: fetch(upstream + "/503"))
    assert len(Upstream.hits) == 1


def test_a_retry_that_succeeds_answers_and_closes_the_count(outbound: Outbound) -> None:
    answers = iter([UpstreamUnavailable("upstream.unavailable", "busy"), {"ok": True}])

    def flaky() -> Any:
        answer = next(answers)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert outbound.call(CONNECTION, "account", POLICY, flaky, safe=True) == {"ok": True}
    assert outbound.breakers.view(CONNECTION).failures == 0


def test_final_answers_pass_through_and_never_open_the_breaker(outbound: Outbound) -> None:
    def no_account() -> Any:
        raise UpstreamRejected("housing_fund.account_not_found", "No account.", "not_found")

    for _ in range(POLICY.failure_threshold + 2):
        with pytest.raises(UpstreamRejected):
            outbound.call(CONNECTION, "account", POLICY, no_account, safe=True)
    assert outbound.breakers.view(CONNECTION).state == CLOSED


def test_a_bug_in_our_code_is_not_an_outage(outbound: Outbound, caplog: pytest.LogCaptureFixture) -> None:
    calls = []

    def buggy() -> Any:
        calls.append(1)
        return None + 1  # type: ignore[operator]

    for _ in range(POLICY.failure_threshold + 1):
        with pytest.raises(TypeError):
            outbound.call(CONNECTION, "account", POLICY, buggy, safe=True)
    assert len(calls) == POLICY.failure_threshold + 1  # never retried
    assert outbound.breakers.view(CONNECTION).state == CLOSED
    assert "outbound call failed in our own code" in caplog.text


def test_the_breaker_opens_refuses_at_once_and_recovers_through_one_trial(
    outbound: Outbound, upstream: str, clock: Clock, changes: list[tuple[str, str]]
) -> None:
    for _ in range(POLICY.failure_threshold):
        with pytest.raises(UpstreamUnavailable):
            outbound.call(CONNECTION, "submit", POLICY, lambda: fetch(upstream + "/500"))
    assert changes == [(CONNECTION, OPEN)]
    Upstream.hits.clear()
    with pytest.raises(UpstreamUnavailable) as refused:
        outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/200"), safe=True)
    assert Upstream.hits == []  # refused without calling
    assert refused.value.retry_after == 30
    # Other connections are not affected.
    assert outbound.call("440300.housing_fund", "account", POLICY, lambda: fetch(upstream + "/200"))
    clock.now += 30
    assert outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/200"), safe=True)
    assert changes == [(CONNECTION, OPEN), (CONNECTION, CLOSED)]


def test_a_safe_read_stops_retrying_when_its_failures_open_the_breaker(outbound: Outbound, upstream: str) -> None:
    policy = CallPolicy(timeout_seconds=0.5, failure_threshold=2, read_retries=5)
    Upstream.hits.clear()
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", policy, lambda: fetch(upstream + "/500"), safe=True)
    assert len(Upstream.hits) == 2


def test_the_bulkhead_bounds_calls_in_flight_per_connection(outbound: Outbound) -> None:
    release = threading.Event()
    policy = CallPolicy(max_concurrent_calls=2)

    def hang() -> str:
        release.wait(10)
        return "late"

    holders = [threading.Thread(target=outbound.call, args=(CONNECTION, "account", policy, hang)) for _ in range(2)]
    for holder in holders:
        holder.start()
    time.sleep(0.1)
    try:
        with pytest.raises(UpstreamUnavailable) as busy:
            outbound.call(CONNECTION, "account", policy, lambda: "never")
        assert busy.value.code == "upstream.busy"
        assert outbound.call("440300.housing_fund", "account", policy, lambda: "other city") == "other city"
    finally:
        release.set()
        for holder in holders:
            holder.join(10)
    assert outbound.call(CONNECTION, "account", policy, lambda: "free again") == "free again"


def test_parallel_calls_within_the_bound_all_go_through(outbound: Outbound) -> None:
    policy = CallPolicy(max_concurrent_calls=8)
    results = run_together(8, lambda i: outbound.call(CONNECTION, "account", policy, lambda: i))
    assert results == list(range(8))


def test_every_attempt_lands_in_the_health_figures(outbound: Outbound, upstream: str) -> None:
    outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/200"))
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/502"))
    figures = figures_of(outbound.call_log.recent(CONNECTION, 0))
    assert (figures.calls, figures.success_rate, figures.last_error) == (2, 0.5, "http_502")


def test_a_timeout_is_named_as_such_in_the_figures(outbound: Outbound, upstream: str) -> None:
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", POLICY, lambda: fetch(upstream + "/200/1"))
    assert figures_of(outbound.call_log.recent(CONNECTION, 0)).last_error == "timeout"


def test_the_http_session_ignores_proxies_from_the_environment(monkeypatch: pytest.MonkeyPatch, upstream: str) -> None:
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{closed_port()}")
    monkeypatch.setenv("NO_PROXY", "")
    assert http_session(1).get(upstream + "/200", timeout=2).json() == {"balance": "12.34"}
    with pytest.raises(requests.ConnectionError):
        requests.Session().get(upstream + "/200", timeout=2)
