"""One contract for breaker stores: this process's memory and Redis must keep the same rules."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from outbound.breaker import CALL
from outbound.breaker import CLOSED
from outbound.breaker import HALF_OPEN
from outbound.breaker import OPEN
from outbound.breaker import REFUSE
from outbound.breaker import TRIAL
from outbound.breaker import BreakerStore
from outbound.breaker import MemoryBreakerStore
from outbound.redis_breaker import RedisBreakerStore
from tests.concurrency import run_together
from tests.conftest import require_service

KEY = "330100.housing_fund"
NOW = 1_800_000_000.0


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def store(request: pytest.FixtureRequest) -> Iterator[BreakerStore]:
    """Each implementation, empty."""
    if request.param == "memory":
        yield MemoryBreakerStore()
        return
    client = redis.Redis.from_url(require_service("TEST_REDIS_URL"))
    prefix = f"test:breaker:{secrets.token_hex(6)}:"
    yield RedisBreakerStore(client, prefix)
    names = list(client.scan_iter(match=f"{prefix}*"))
    if names:
        client.delete(*names)
    client.close()


def open_breaker(store: BreakerStore, at: float = NOW, threshold: int = 3) -> None:
    for _ in range(threshold):
        store.fail(KEY, at, threshold)


def test_a_new_breaker_is_closed_and_lets_calls_through(store: BreakerStore) -> None:
    assert store.admit(KEY, NOW, 30, 11).verdict == CALL
    view = store.view(KEY)
    assert (view.state, view.failures, view.opened_at) == (CLOSED, 0, None)


def test_the_threshold_failure_in_a_row_opens_it_once(store: BreakerStore) -> None:
    assert [store.fail(KEY, NOW, 3) for _ in range(5)] == [False, False, True, False, False]
    view = store.view(KEY)
    assert (view.state, view.opened_at) == (OPEN, NOW)


def test_a_success_resets_the_count_of_failures_in_a_row(store: BreakerStore) -> None:
    store.fail(KEY, NOW, 3)
    store.fail(KEY, NOW, 3)
    assert store.succeed(KEY) is False  # it was closed: nothing to announce
    assert store.fail(KEY, NOW, 3) is False
    assert store.fail(KEY, NOW, 3) is False
    assert store.view(KEY).state == CLOSED


def test_an_open_breaker_refuses_until_the_reset_time_then_lets_one_trial_through(store: BreakerStore) -> None:
    open_breaker(store)
    refused = store.admit(KEY, NOW + 10, 30, 11)
    assert refused.verdict == REFUSE
    assert refused.retry_after == pytest.approx(20)
    assert store.admit(KEY, NOW + 29.9, 30, 11).verdict == REFUSE
    assert store.admit(KEY, NOW + 30, 30, 11).verdict == TRIAL
    assert store.view(KEY).state == HALF_OPEN
    # While the trial runs, nobody else goes through.
    second = store.admit(KEY, NOW + 31, 30, 11)
    assert second.verdict == REFUSE
    assert second.retry_after == pytest.approx(10)


def test_a_trial_that_never_reports_back_lapses_and_another_caller_tries(store: BreakerStore) -> None:
    open_breaker(store)
    assert store.admit(KEY, NOW + 30, 30, 11).verdict == TRIAL
    assert store.admit(KEY, NOW + 41, 30, 11).verdict == TRIAL


def test_a_good_trial_closes_the_breaker(store: BreakerStore) -> None:
    open_breaker(store)
    store.admit(KEY, NOW + 30, 30, 11)
    assert store.succeed(KEY) is True
    assert store.view(KEY) == store.view("never-used")
    assert store.admit(KEY, NOW + 31, 30, 11).verdict == CALL


def test_a_failed_trial_opens_the_breaker_again_for_a_whole_reset_time(store: BreakerStore) -> None:
    open_breaker(store)
    store.admit(KEY, NOW + 30, 30, 11)
    assert store.fail(KEY, NOW + 32, 3) is False  # it was not closed: still degraded, nothing new to announce
    assert store.view(KEY).state == OPEN
    assert store.view(KEY).opened_at == NOW + 32
    assert store.admit(KEY, NOW + 61, 30, 11).verdict == REFUSE
    assert store.admit(KEY, NOW + 62, 30, 11).verdict == TRIAL


def test_breakers_of_different_connections_are_independent(store: BreakerStore) -> None:
    open_breaker(store)
    assert store.admit("440300.housing_fund", NOW, 30, 11).verdict == CALL
    assert store.view("440300.housing_fund").state == CLOSED


def test_parallel_failures_open_the_breaker_exactly_once(store: BreakerStore) -> None:
    opened = run_together(12, lambda _: store.fail(KEY, NOW, 5))
    assert opened.count(True) == 1
    assert store.view(KEY).failures == 12


def test_parallel_callers_after_the_reset_time_get_exactly_one_trial(store: BreakerStore) -> None:
    open_breaker(store)
    verdicts = run_together(12, lambda _: store.admit(KEY, NOW + 30, 30, 11).verdict)
    assert verdicts.count(TRIAL) == 1
    assert verdicts.count(REFUSE) == 11


def test_a_breaker_says_until_when_it_refuses_calls_so_a_tile_comes_back_by_itself(store: BreakerStore) -> None:
    for _ in range(2):
        store.fail(KEY, NOW, 2, 45.5)
    view = store.view(KEY)
    assert view.refusing_until == NOW + 45.5
    assert view.refuses(NOW + 45.4) and not view.refuses(NOW + 45.5)
    # The trial under way refuses others until it lapses; a failed trial opens it for its reset time again.
    assert store.admit(KEY, NOW + 46, 45.5, 11).verdict == TRIAL
    assert store.view(KEY).refusing_until == NOW + 57
    assert store.view(KEY).refuses(NOW + 56.9) and not store.view(KEY).refuses(NOW + 57)
    store.fail(KEY, NOW + 50, 2, 20)
    assert store.view(KEY).refusing_until == NOW + 70
    # Closed again: nothing refused, whatever the clock says.
    store.succeed(KEY)
    closed = store.view(KEY)
    assert closed.refusing_until is None and not closed.refuses(NOW)
    store.fail(KEY, NOW, 2, 45.5)
    assert store.view(KEY).state == CLOSED and not store.view(KEY).refuses(NOW)


@pytest.mark.redis
def test_redis_stores_made_from_a_url_time_out_and_share_one_prefix() -> None:
    store = RedisBreakerStore.from_url(require_service("TEST_REDIS_URL"))
    options = store.client.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (2, 2)
    assert store.prefix == "citytiles:breaker:"
    assert store.admit(f"test.{secrets.token_hex(4)}", NOW, 30, 11).verdict == CALL
    store.client.close()


@pytest.mark.redis
def test_a_redis_breaker_written_before_reset_times_were_kept_refuses_nothing_on_tiles() -> None:
    client = redis.Redis.from_url(require_service("TEST_REDIS_URL"), decode_responses=True)
    prefix = f"test:breaker:{secrets.token_hex(6)}:"
    client.hset(prefix + KEY, mapping={"state": "open", "failures": "3", "opened_at": repr(NOW)})
    try:
        view = RedisBreakerStore(client, prefix).view(KEY)
        assert (view.state, view.failures, view.opened_at, view.refusing_until) == (OPEN, 3, NOW, NOW)
        assert not view.refuses(NOW)
    finally:
        client.delete(prefix + KEY)
        client.close()
