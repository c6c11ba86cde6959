"""The edges of the one way out: a store that fails, the reset and trial times passed on, figures kept per call."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import pytest
import requests

from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.breaker import CALL
from outbound.breaker import Breakers
from outbound.breaker import BreakerView
from outbound.breaker import MemoryBreakerStore
from outbound.bulkhead import Bulkheads
from outbound.calls import Outbound
from outbound.health import MAX_SAMPLES
from outbound.health import CallRecord
from outbound.health import MemoryCallLog
from outbound.health import figures_of
from outbound.policy import CallPolicy

CONNECTION = "330100.housing_fund"


class BrokenStore(MemoryBreakerStore):
    """A breaker store whose every step fails, as Redis going away does."""

    def admit(self, key: str, now: float, reset_seconds: float, trial_seconds: float):  # type: ignore[no-untyped-def]
        raise ConnectionError("store down")

    def succeed(self, key: str) -> bool:
        raise ConnectionError("store down")

    def fail(self, key: str, now: float, threshold: int, reset_seconds: float = 30.0) -> bool:
        raise ConnectionError("store down")


@pytest.fixture
def outbound_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """What citytiles.outbound logs (its loggers do not propagate to the root)."""
    caplog.set_level(logging.INFO)
    logger = logging.getLogger("citytiles.outbound")
    reaches_root = all(parent.propagate for parent in (logger, logging.getLogger("citytiles")))
    if not reaches_root:
        logger.addHandler(caplog.handler)
    yield caplog
    logger.removeHandler(caplog.handler)


def unique(records: list[logging.LogRecord]) -> list[logging.LogRecord]:
    """Each record once, however many of caplog's handlers saw it."""
    return list({id(record): record for record in records}.values())


def test_a_store_that_fails_lets_calls_through_and_each_failure_is_logged_with_its_connection(
    outbound_log: pytest.LogCaptureFixture,
) -> None:
    breakers = Breakers(BrokenStore())
    assert breakers.admit(CONNECTION, 30, 11).verdict == CALL
    breakers.succeeded(CONNECTION)
    breakers.failed(CONNECTION, 3, 30)
    warnings = [r for r in unique(outbound_log.records) if r.levelname == "WARNING"]
    assert [r.getMessage() for r in warnings] == [
        "breaker store unreadable; calling anyway",
        "breaker store unwritable",
        "breaker store unwritable",
    ]
    for record in warnings:
        assert record.connection == CONNECTION and record.exc_info is not None
        assert record.exc_info[0] is ConnectionError


def test_the_reset_time_reaches_the_store() -> None:
    breakers = Breakers(MemoryBreakerStore(), clock=lambda: 100.0)
    breakers.failed(CONNECTION, 1, 7.5)
    assert breakers.view(CONNECTION).refusing_until == 107.5


def unusable() -> None:
    raise UpstreamUnavailable("upstream.unavailable", "busy", 5)


def test_a_call_passes_on_its_reset_time_and_a_trial_holds_the_breaker_for_twice_the_timeout_and_a_second() -> None:
    breakers = Breakers(MemoryBreakerStore())
    outbound = Outbound(breakers, Bulkheads(wait_seconds=0.05), MemoryCallLog(), sleep=lambda _: None)
    policy = CallPolicy(timeout_seconds=2, max_concurrent_calls=4, failure_threshold=1, reset_seconds=0.05)
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", policy, unusable)
    opened = breakers.view(CONNECTION)
    assert opened.refusing_until == pytest.approx((opened.opened_at or 0) + 0.05)
    time.sleep(0.06)
    seen: list[BreakerView] = []
    started = time.time()
    outbound.call(CONNECTION, "account", policy, lambda: seen.append(breakers.view(CONNECTION)))
    [during] = seen
    assert during.state == "half_open"
    assert (during.refusing_until or 0) - started == pytest.approx(2 * 2 + 1, abs=0.5)
    assert breakers.view(CONNECTION).state == "closed"


def test_every_call_is_counted_under_its_connection_with_its_outcome_and_a_tenth_of_a_millisecond() -> None:
    outbound = Outbound(Breakers(MemoryBreakerStore()), Bulkheads(wait_seconds=0.05), MemoryCallLog())
    policy = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=5, reset_seconds=30)

    def lost() -> None:
        raise requests.ConnectionError("refused")

    outbound.call(CONNECTION, "account", policy, lambda: time.sleep(0.0123))
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", policy, unusable)
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "records", CallPolicy(timeout_seconds=1, read_retries=0), lost)
    calls = outbound.call_log.recent(CONNECTION, 0)
    assert [c.outcome for c in calls] == ["ok", "upstream.unavailable", "ConnectionError"]
    assert all(round(c.duration_ms, 1) == c.duration_ms for c in calls)
    assert calls[0].duration_ms >= 12.3
    health = outbound.health(CONNECTION)
    assert health.breaker == outbound.breakers.view(CONNECTION) and health.breaker.failures == 2
    assert (health.figures.calls, health.figures.last_error) == (3, "ConnectionError")
    assert outbound.health("440300.housing_fund").figures.calls == 0
    # Only the last hour counts.
    assert outbound.health(CONNECTION, window_seconds=0).figures.calls == 0


def test_figures_without_a_failure_and_rates_to_four_places() -> None:
    calls = [CallRecord(float(i), 10.0, "ok") for i in range(3)]
    figures = figures_of(calls)
    assert (figures.success_rate, figures.last_error, figures.last_error_at) == (1.0, None, None)
    figures = figures_of([*calls, CallRecord(9.0, 10.0, "timeout"), CallRecord(10.0, 10.0, "ok"), calls[0]])
    assert figures.success_rate == 0.8333


def test_the_memory_log_keeps_a_call_at_the_window_edge_and_no_more_than_its_samples() -> None:
    log = MemoryCallLog()
    for i in range(MAX_SAMPLES + 2):
        log.record(CONNECTION, CallRecord(float(i), 1.0, "ok"))
    kept = log.recent(CONNECTION, 2.0)
    assert len(kept) == MAX_SAMPLES and kept[0].at == 2.0


def test_a_final_answer_is_a_working_upstream_and_each_failure_kind_passes_on_the_reset_time(
    outbound_log: pytest.LogCaptureFixture,
) -> None:
    breakers = Breakers(MemoryBreakerStore())
    outbound = Outbound(breakers, Bulkheads(wait_seconds=0.05), MemoryCallLog(), sleep=lambda _: None)
    policy = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=2, reset_seconds=7, read_retries=0)

    def refused() -> None:
        raise UpstreamRejected("housing_fund.no_account", "No such account.", "not_found")

    def lost() -> None:
        raise requests.ConnectionError("refused")

    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", policy, unusable)
    assert breakers.view(CONNECTION).state == "closed"  # one failure of two
    with pytest.raises(UpstreamRejected):
        outbound.call(CONNECTION, "account", policy, refused)
    assert breakers.view(CONNECTION).failures == 0  # the answer, even a refusal, resets the count
    assert [c.outcome for c in outbound.call_log.recent(CONNECTION, 0)] == ["upstream.unavailable", "ok"]
    for _ in range(2):
        with pytest.raises(UpstreamUnavailable):
            outbound.call(CONNECTION, "account", policy, lost)
    opened = breakers.view(CONNECTION)
    assert opened.state == "open" and opened.refusing_until == (opened.opened_at or 0) + 7

    def bug() -> None:
        raise TypeError("ours")

    with pytest.raises(TypeError):
        outbound.call("440300.housing_fund", "account", policy, bug)
    [logged] = [r for r in unique(outbound_log.records) if r.getMessage() == "outbound call failed in our own code"]
    assert (logged.connection, logged.trial) == ("440300.housing_fund", False)


def test_a_trial_answered_with_a_refusal_closes_the_breaker() -> None:
    breakers = Breakers(MemoryBreakerStore())
    outbound = Outbound(breakers, Bulkheads(wait_seconds=0.05), MemoryCallLog(), sleep=lambda _: None)
    policy = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=1, reset_seconds=0.02)
    with pytest.raises(UpstreamUnavailable):
        outbound.call(CONNECTION, "account", policy, unusable)
    time.sleep(0.03)

    def refused() -> None:
        raise UpstreamRejected("housing_fund.no_account", "No such account.", "not_found")

    with pytest.raises(UpstreamRejected):
        outbound.call(CONNECTION, "account", policy, refused)
    assert breakers.view(CONNECTION).state == "closed"
