"""What one outbound call leaves behind: its log line, its timing for the figures, its backoff, its Retry-After."""

from __future__ import annotations

import logging
import time

import pytest
from requests.adapters import HTTPAdapter

from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.breaker import Breakers
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import CallRecord
from outbound.health import MemoryCallLog
from outbound.http import http_session
from outbound.policy import CallPolicy

CONNECTION = "upstream.330100.housing_fund"


class BrokenCallLog(MemoryCallLog):
    """A figures store that is down."""

    def record(self, connection: str, call: CallRecord) -> None:
        raise ConnectionError("figures store down")


def outbound(call_log: MemoryCallLog | None = None, sleeps: list[float] | None = None) -> Outbound:
    recorded = sleeps if sleeps is not None else []
    return Outbound(Breakers(MemoryBreakerStore()), Bulkheads(), call_log or MemoryCallLog(), sleep=recorded.append)


def call_lines(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "citytiles.outbound" and r.getMessage() == "outbound call"]


def unavailable() -> None:
    raise UpstreamUnavailable("upstream.unavailable", "busy")


def test_one_line_per_call_with_its_outcome_attempts_and_duration(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="citytiles.outbound")
    way_out = outbound()
    policy = CallPolicy(read_retries=2, failure_threshold=10)

    def slow() -> str:
        time.sleep(0.03)
        return "ok"

    way_out.call(CONNECTION, "account", policy, slow)
    with pytest.raises(UpstreamUnavailable):
        way_out.call(CONNECTION, "records", policy, unavailable, safe=True)
    with pytest.raises(UpstreamRejected):
        way_out.call(CONNECTION, "loan", policy, lambda: (_ for _ in ()).throw(UpstreamRejected("x.none", "none")))
    with pytest.raises(KeyError):
        way_out.call(CONNECTION, "loan", policy, lambda: {}["bug"])
    first, retried, rejected, bug = call_lines(caplog)
    assert (first.connection, first.operation, first.outcome, first.attempts) == (CONNECTION, "account", "ok", 1)
    assert 30 <= first.duration_ms < 1000
    assert (retried.operation, retried.outcome, retried.attempts) == ("records", "upstream.unavailable", 3)
    assert (rejected.outcome, rejected.attempts) == ("x.none", 1)
    assert (bug.outcome, bug.attempts) == ("KeyError", 1)
    notes = [r for r in caplog.records if r.getMessage() == "outbound call retried"]
    assert [(r.connection, r.operation, r.attempt) for r in notes] == [
        (CONNECTION, "records", 1),
        (CONNECTION, "records", 2),
    ]


def test_a_refused_call_is_logged_as_breaker_open_with_no_attempt(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="citytiles.outbound")
    way_out = outbound()
    policy = CallPolicy(failure_threshold=1, reset_seconds=0.2, read_retries=0)
    with pytest.raises(UpstreamUnavailable):
        way_out.call(CONNECTION, "account", policy, unavailable)
    with pytest.raises(UpstreamUnavailable) as refused:
        way_out.call(CONNECTION, "account", policy, lambda: "never called")
    assert refused.value.retry_after == 1  # a fraction of a second left is still "retry in a second"
    assert refused.value.message and refused.value.code == "upstream.unavailable"
    assert (call_lines(caplog)[-1].outcome, call_lines(caplog)[-1].attempts) == ("breaker_open", 0)


@pytest.mark.parametrize(("reset_seconds", "retry_after"), [(0.4, 1), (1.0, 1), (12.5, 13), (45.0, 30)])
def test_a_failed_call_says_when_to_retry(reset_seconds: float, retry_after: int) -> None:
    policy = CallPolicy(failure_threshold=10, reset_seconds=reset_seconds, read_retries=0)

    def refused_connection() -> None:
        raise ConnectionRefusedError("refused")

    with pytest.raises(UpstreamUnavailable) as failed:
        outbound().call(CONNECTION, "account", policy, refused_connection)
    assert failed.value.retry_after == retry_after


def test_each_attempt_is_timed_for_the_figures() -> None:
    figures = MemoryCallLog()

    def slow() -> None:
        time.sleep(0.05)

    outbound(figures).call(CONNECTION, "account", CallPolicy(), slow)
    [record] = figures.recent(CONNECTION, 0)
    assert 50 <= record.duration_ms < 1000 and record.duration_ms == round(record.duration_ms, 1)
    assert record.outcome == "ok" and abs(record.at - time.time()) < 5


def test_a_figures_store_that_is_down_does_not_fail_the_call(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="citytiles.outbound")
    assert outbound(BrokenCallLog()).call(CONNECTION, "account", CallPolicy(), lambda: 42) == 42
    [warning] = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.getMessage() == "could not record an outbound call"
    assert warning.connection == CONNECTION and warning.exc_info is not None


def test_backoff_between_attempts_is_short_and_bounded() -> None:
    sleeps: list[float] = []
    policy = CallPolicy(read_retries=6, failure_threshold=20)
    with pytest.raises(UpstreamUnavailable):
        outbound(sleeps=sleeps).call(CONNECTION, "records", policy, unavailable, safe=True)
    assert len(sleeps) == 6
    assert 0.1 <= sleeps[0] <= 0.2  # the first wait: 0.1 s and a little jitter
    assert all(0.1 <= wait <= 1.0 for wait in sleeps) and max(sleeps) == 1.0


def test_a_bug_in_a_trial_call_is_logged_as_such(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.ERROR, logger="citytiles.outbound")
    way_out = outbound()
    policy = CallPolicy(failure_threshold=1, reset_seconds=0.05, read_retries=0)
    with pytest.raises(KeyError):
        way_out.call(CONNECTION, "account", policy, lambda: {}["bug"])
    with pytest.raises(UpstreamUnavailable):
        way_out.call(CONNECTION, "account", policy, unavailable)
    time.sleep(0.06)
    with pytest.raises(KeyError):
        way_out.call(CONNECTION, "account", policy, lambda: {}["bug"])
    assert [r.trial for r in caplog.records if r.getMessage() == "outbound call failed in our own code"] == [
        False,
        True,
    ]


def test_http_sessions_pool_per_connection_and_ignore_proxy_settings() -> None:
    session = http_session(6)
    assert session.trust_env is False
    plain, secure = session.get_adapter("http://centre.example/"), session.get_adapter("https://centre.example/")
    assert plain is secure and isinstance(plain, HTTPAdapter)
    assert (plain._pool_connections, plain._pool_maxsize, plain.max_retries.total) == (1, 6, 0)  # type: ignore[attr-defined]


class DownStore(MemoryBreakerStore):
    """A breaker store (Redis) that cannot be reached."""

    def admit(self, key: str, now: float, reset_seconds: float, trial_seconds: float):  # type: ignore[no-untyped-def]
        raise ConnectionError("breaker store down")

    def succeed(self, key: str) -> bool:
        raise ConnectionError("breaker store down")

    def fail(self, key: str, now: float, threshold: int) -> bool:
        raise ConnectionError("breaker store down")


def test_a_breaker_store_that_is_down_neither_stops_calls_nor_turns_answers_into_errors(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="citytiles.outbound")
    way_out = Outbound(Breakers(DownStore()), Bulkheads(), MemoryCallLog())
    assert way_out.call(CONNECTION, "hold", CallPolicy(), lambda: "held") == "held"  # the hold happened: say so
    with pytest.raises(UpstreamUnavailable):
        way_out.call(CONNECTION, "hold", CallPolicy(read_retries=0), unavailable)
    assert {r.getMessage() for r in caplog.records} >= {
        "breaker store unreadable; calling anyway",
        "breaker store unwritable",
    }
