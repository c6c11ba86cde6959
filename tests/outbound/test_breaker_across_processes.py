"""A breaker opened by one process refuses calls in another: the state lives in Redis, not in a worker."""

from __future__ import annotations

import multiprocessing
import secrets
import time

import pytest
import redis

from outbound.breaker import OPEN
from outbound.breaker import REFUSE
from outbound.breaker import Breakers
from outbound.redis_breaker import RedisBreakerStore
from tests.conftest import require_service

pytestmark = pytest.mark.redis


def fail_until_open(url: str, prefix: str, connection: str) -> None:
    """In a separate process: fail calls until the breaker opens."""
    breakers = Breakers(RedisBreakerStore(redis.Redis.from_url(url), prefix))
    for _ in range(3):
        breakers.failed(connection, 3)


def test_a_breaker_opened_in_one_process_refuses_in_another() -> None:
    url = require_service("TEST_REDIS_URL")
    prefix = f"test:breaker:{secrets.token_hex(6)}:"
    worker = multiprocessing.get_context("spawn").Process(target=fail_until_open, args=(url, prefix, "a.b"))
    worker.start()
    worker.join(60)
    assert worker.exitcode == 0
    client = redis.Redis.from_url(url)
    try:
        here = Breakers(RedisBreakerStore(client, prefix))
        assert here.view("a.b").state == OPEN
        assert here.admit("a.b", 30, 11).verdict == REFUSE
        assert here.view("b.c").state != OPEN
        assert abs(here.view("a.b").opened_at - time.time()) < 60  # type: ignore[operator]
    finally:
        client.delete(*client.scan_iter(match=f"{prefix}*"))
        client.close()
