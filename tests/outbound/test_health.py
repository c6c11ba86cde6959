"""Health figures: success rate, nearest-rank percentiles and the last error, over memory and Redis."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import redis

from outbound.health import MAX_SAMPLES
from outbound.health import WINDOW_SECONDS
from outbound.health import CallLog
from outbound.health import CallRecord
from outbound.health import MemoryCallLog
from outbound.health import figures_of
from outbound.redis_health import RedisCallLog
from tests.conftest import require_service


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
def call_log(request: pytest.FixtureRequest) -> Iterator[CallLog]:
    if request.param == "memory":
        yield MemoryCallLog()
        return
    client = redis.Redis.from_url(require_service("TEST_REDIS_URL"))
    prefix = f"test:calls:{secrets.token_hex(6)}:"
    yield RedisCallLog(client, prefix)
    names = list(client.scan_iter(match=f"{prefix}*"))
    if names:
        client.delete(*names)
    client.close()


def test_no_calls_no_figures() -> None:
    figures = figures_of([])
    assert (figures.calls, figures.success_rate, figures.p50_ms, figures.last_error) == (0, None, None, None)


def test_figures_over_twenty_calls() -> None:
    calls = [CallRecord(float(i), float(i + 1), "ok" if i % 4 else "timeout") for i in range(20)]
    figures = figures_of(calls)
    assert figures.calls == 20
    assert figures.success_rate == 0.75
    assert figures.p50_ms == 10.0
    assert figures.p95_ms == 19.0
    assert (figures.last_error, figures.last_error_at) == ("timeout", 16.0)


def test_the_log_returns_recent_calls_of_one_connection_oldest_first(call_log: CallLog) -> None:
    for at in (100.0, 200.0, 300.0):
        call_log.record("a.b", CallRecord(at, 5.5, "ok"))
    call_log.record("c.d", CallRecord(250.0, 1.0, "http_500"))
    assert call_log.recent("a.b", 150.0) == [CallRecord(200.0, 5.5, "ok"), CallRecord(300.0, 5.5, "ok")]
    assert call_log.recent("c.d", 0.0) == [CallRecord(250.0, 1.0, "http_500")]
    assert call_log.recent("e.f", 0.0) == []


def test_the_log_keeps_a_call_at_the_edge_of_the_window(call_log: CallLog) -> None:
    call_log.record("a.b", CallRecord(150.0, 1.0, "ok"))
    assert call_log.recent("a.b", 150.0) == [CallRecord(150.0, 1.0, "ok")]
    assert call_log.recent("a.b", 150.5) == []


@pytest.mark.redis
def test_redis_keeps_the_latest_samples_for_two_windows_whatever_the_client_decodes() -> None:
    url = require_service("TEST_REDIS_URL")
    prefix = f"test:calls:{secrets.token_hex(6)}:"
    for decoding in (False, True):
        client = redis.Redis.from_url(url, decode_responses=decoding)
        call_log = RedisCallLog(client, prefix)
        key = f"{prefix}a.b{decoding}"
        client.lpush(key, *(f"{float(i)!r} 1.0 ok" for i in range(MAX_SAMPLES + 2)))
        assert len(call_log.recent(f"a.b{decoding}", 0.0)) == MAX_SAMPLES
        call_log.record(f"a.b{decoding}", CallRecord(1e9, 2.5, "http_503"))
        assert client.llen(key) == MAX_SAMPLES
        assert 2 * WINDOW_SECONDS - 5 <= client.ttl(key) <= 2 * WINDOW_SECONDS
        assert call_log.recent(f"a.b{decoding}", 1e9) == [CallRecord(1e9, 2.5, "http_503")]
        client.delete(key)
        client.close()


@pytest.mark.redis
def test_redis_logs_made_from_a_url_time_out_and_share_one_prefix() -> None:
    call_log = RedisCallLog.from_url(require_service("TEST_REDIS_URL"))
    options = call_log.client.connection_pool.connection_kwargs
    assert (options["socket_timeout"], options["socket_connect_timeout"]) == (2, 2)
    assert call_log.prefix == "citytiles:calls:"
    assert call_log.recent(f"test.{secrets.token_hex(4)}", 0.0) == []
    call_log.client.close()
