"""Staff login limits: per address and per username per address, shared, bounded, and logged."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import pytest
from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from app import create_app
from app.wiring import ChannelAdapters
from config import Settings
from config import UnsafeConfiguration
from identity.models import AttemptCount
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import require_service

ATTACKER, ADMIN_DESK, OTHER_ATTACKER = "203.0.113.66", "198.51.100.10", "203.0.113.99"


def log_in(api: Api, username: str, password: str, address: str, expected: int) -> dict:
    return api.post(
        "/admin/api/sessions",
        json={"username": username, "password": password},
        environ_base={"REMOTE_ADDR": address},
        expected=expected,
    )


def stored_counters(session: Session) -> int:
    """Rows in the counter table now (the session's earlier read snapshot is ended first)."""
    session.rollback()
    count: int = session.scalar(select(func.count()).select_from(AttemptCount))
    return count


def test_an_attacker_cannot_lock_a_staff_member_out_from_elsewhere(api: Api, make_staff, clock: Clock) -> None:
    make_staff("admin", "platform_admin")
    for _ in range(5):
        log_in(api, "admin", "guess", ATTACKER, 401)
    locked = api.client.post(
        "/admin/api/sessions",
        json={"username": "admin", "password": STAFF_PASSWORD},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert locked.status_code == 429 and locked.get_json()["error"]["code"] == "auth.locked"
    assert int(locked.headers["Retry-After"]) == 15 * 60
    # The real admin, at their own desk, is not locked out; neither is a second attacker's lock theirs.
    log_in(api, "admin", STAFF_PASSWORD, ADMIN_DESK, 201)
    log_in(api, "admin", "guess", OTHER_ATTACKER, 401)


def test_too_many_failures_from_one_address_lock_that_address_for_every_username(
    api: Api, make_staff, clock: Clock
) -> None:
    make_staff("ada", "platform_admin")
    for i in range(20):
        log_in(api, f"guess-{i}", "guess", ATTACKER, 401)
    refused = api.client.post(
        "/admin/api/sessions",
        json={"username": "ada", "password": STAFF_PASSWORD},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert refused.status_code == 429 and refused.get_json()["error"]["code"] == "auth.too_many_attempts"
    assert int(refused.headers["Retry-After"]) == 15 * 60
    log_in(api, "ada", STAFF_PASSWORD, ADMIN_DESK, 201)
    clock.advance(minutes=15)
    log_in(api, "ada", STAFF_PASSWORD, ATTACKER, 201)


def test_good_logins_do_not_use_up_an_office_address(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for _ in range(21):
        log_in(api, "ada", STAFF_PASSWORD, ADMIN_DESK, 201)


def test_the_limit_table_stays_bounded_under_many_guessed_usernames(api: Api, session: Session, clock: Clock) -> None:
    for i in range(60):
        log_in(api, f"guess-{i}", "guess", ATTACKER, 401 if i < 20 else 429)
    # One row for the address and one per username it got to try, however many it guessed.
    assert stored_counters(session) == 21
    clock.advance(minutes=15)
    log_in(api, "after", "guess", OTHER_ATTACKER, 401)
    assert stored_counters(session) == 2


def test_parallel_wrong_logins_are_all_counted(app: Flask, make_staff) -> None:
    make_staff("ada", "platform_admin")

    def attempt(_: int) -> int:
        response = app.test_client().post(
            "/admin/api/sessions", json={"username": "ada", "password": "guess"}, environ_base={"REMOTE_ADDR": ATTACKER}
        )
        return response.status_code

    with ThreadPoolExecutor(max_workers=40) as pool:
        statuses = Counter(pool.map(attempt, range(40)))
    # Five guesses are allowed, however many arrive at once: a lost count would let more through.
    assert statuses == {401: 5, 429: 35}
    right = app.test_client().post(
        "/admin/api/sessions",
        json={"username": "ada", "password": STAFF_PASSWORD},
        environ_base={"REMOTE_ADDR": ATTACKER},
    )
    assert right.status_code == 429


def test_a_lockout_is_a_security_event_without_the_password_or_username(
    api: Api, make_staff, caplog: pytest.LogCaptureFixture
) -> None:
    make_staff("admin", "platform_admin")
    logger = logging.getLogger("citytiles")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO)
    try:
        for _ in range(7):
            api.client.post(
                "/admin/api/sessions",
                json={"username": "admin", "password": "s3cret-guess"},
                environ_base={"REMOTE_ADDR": ATTACKER},
            )
    finally:
        logger.removeHandler(caplog.handler)
    [event] = [r for r in caplog.records if r.name == "citytiles.security" and r.getMessage() == "lockout"]
    assert (event.code, event.source, event.username) == ("auth.locked", ATTACKER, "a…(5)")
    assert "s3cret-guess" not in caplog.text and "admin" not in str(event.__dict__)


def test_unlocking_a_username_lifts_its_locks_from_every_address(app: Flask, api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for address in (ATTACKER, OTHER_ATTACKER):
        for _ in range(5):
            log_in(api, "ada", "guess", address, 401)
        log_in(api, "ada", STAFF_PASSWORD, address, 429)
    result = app.test_cli_runner().invoke(args=["unlock-staff", "--username", "ada"])
    assert result.exit_code == 0 and "unlocked 'ada'" in result.output
    for address in (ATTACKER, OTHER_ATTACKER):
        log_in(api, "ada", STAFF_PASSWORD, address, 201)


def test_unlocking_an_address(app: Flask, api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for i in range(21):
        log_in(api, f"guess-{i}", "guess", ATTACKER, 401 if i < 20 else 429)
    result = app.test_cli_runner().invoke(args=["unlock-staff", "--address", ATTACKER])
    assert result.exit_code == 0, result.output
    log_in(api, "ada", STAFF_PASSWORD, ATTACKER, 201)


@pytest.fixture
def proxied_app(settings: Settings, clock: Clock, fake_channels: ChannelAdapters) -> Iterator[Flask]:
    """The app behind one trusted proxy."""
    application = create_app(replace(settings, trusted_proxy_hops=1), clock=clock, channels=fake_channels)
    yield application
    application.extensions["engine"].dispose()


def test_behind_a_trusted_proxy_the_forwarded_client_is_counted(proxied_app: Flask, make_staff) -> None:
    make_staff("ada", "platform_admin")
    client = proxied_app.test_client()

    def attempt(client_address: str, password: str) -> int:
        return client.post(
            "/admin/api/sessions",
            json={"username": "ada", "password": password},
            headers={"X-Forwarded-For": client_address},
            environ_base={"REMOTE_ADDR": "10.0.0.2"},
        ).status_code

    assert [attempt(ATTACKER, "guess") for _ in range(6)] == [401] * 5 + [429]
    assert attempt(ADMIN_DESK, STAFF_PASSWORD) == 201


def test_trusted_proxy_hops_is_read_and_never_negative() -> None:
    assert Settings.from_env({"TRUSTED_PROXY_HOPS": "2"}).trusted_proxy_hops == 2
    assert Settings.from_env({}).trusted_proxy_hops == 0
    with pytest.raises(UnsafeConfiguration):
        Settings.from_env({"TRUSTED_PROXY_HOPS": "-1"})


def test_without_a_trusted_proxy_a_forwarded_header_is_ignored(api: Api, make_staff) -> None:
    make_staff("ada", "platform_admin")
    for i in range(6):
        api.post(
            "/admin/api/sessions",
            json={"username": "ada", "password": "guess"},
            headers={"X-Forwarded-For": f"192.0.2.{i}"},
            environ_base={"REMOTE_ADDR": ATTACKER},
            expected=401 if i < 5 else 429,
        )


@pytest.mark.redis
def test_with_redis_the_limits_live_in_redis(settings: Settings, clock: Clock, fake_channels: ChannelAdapters) -> None:
    import redis

    url = require_service("TEST_REDIS_URL")
    redis.Redis.from_url(url).flushdb()
    application = create_app(replace(settings, redis_url=url), clock=clock, channels=fake_channels)
    assert application.extensions["attempts"].name == "redis"
    api = Api(application.test_client())
    for _ in range(5):
        log_in(api, "ada", "guess", ATTACKER, 401)
    log_in(api, "ada", "guess", ATTACKER, 429)
    log_in(api, "ada", "guess", ADMIN_DESK, 401)
    assert application.test_cli_runner().invoke(args=["unlock-staff", "--username", "ada"]).exit_code == 0
    log_in(api, "ada", "guess", ATTACKER, 401)
    session = application.extensions["session_factory"]()
    assert session.scalar(select(func.count()).select_from(AttemptCount)) == 0
    session.close()
    application.extensions["engine"].dispose()
