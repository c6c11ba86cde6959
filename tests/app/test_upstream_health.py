"""Operators see each connection's breaker and last hour of calls, from every worker."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask

from app import create_app
from city_services.upstream_link import connection_key
from config import Settings
from errors import UpstreamRejected
from errors import UpstreamUnavailable
from outbound.policy import CallPolicy
from tests.conftest import Api
from tests.conftest import Clock

POLICY = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=3, reset_seconds=30, read_retries=0)


def call(app: Flask, outcome: type[Exception] | None) -> None:
    def attempt() -> None:
        if outcome is UpstreamUnavailable:
            raise UpstreamUnavailable("upstream.unavailable", "busy")
        if outcome is UpstreamRejected:
            raise UpstreamRejected("housing_fund.account_not_found", "no account", "not_found")

    try:
        app.extensions["outbound"].call(connection_key("330100", "housing_fund"), "account", POLICY, attempt)
    except (UpstreamUnavailable, UpstreamRejected):
        pass


def fund_health(api: Api, token: str) -> dict[str, Any]:
    connections = api.get("/admin/api/cities/330100/upstreams", token=token)["connections"]
    return next(c for c in connections if c["service"] == "housing_fund")["health"]


@pytest.mark.usefixtures("seeded")
def test_health_shows_breaker_rate_latency_and_last_error(app: Flask, api: Api, make_staff) -> None:
    token = make_staff("ops", "city_operator", cities=("330100",))
    assert fund_health(api, token) == {
        "breaker": {"state": "closed", "failures": 0, "opened_at": None},
        "last_hour": {
            "calls": 0,
            "success_rate": None,
            "p50_ms": None,
            "p95_ms": None,
            "last_error": None,
            "last_error_at": None,
        },
    }
    for outcome in (None, UpstreamRejected, None, UpstreamUnavailable):
        call(app, outcome)
    health = fund_health(api, token)
    # A final refusal (no such account) is a working upstream; only the unusable answer counts against it.
    assert health["last_hour"]["calls"] == 4 and health["last_hour"]["success_rate"] == 0.75
    assert health["last_hour"]["last_error"] == "upstream.unavailable"
    assert health["last_hour"]["p95_ms"] >= health["last_hour"]["p50_ms"] >= 0
    assert health["breaker"]["state"] == "closed" and health["breaker"]["failures"] == 1
    for _ in range(POLICY.failure_threshold):
        call(app, UpstreamUnavailable)
    assert fund_health(api, token)["breaker"]["state"] == "open"
    other = api.get(
        "/admin/api/cities/440300/upstreams", token=make_staff("shenzhen-ops", "city_operator", cities=("440300",))
    )
    assert {c["health"]["breaker"]["state"] for c in other["connections"]} == {"closed"}


@pytest.mark.redis
@pytest.mark.usefixtures("seeded")
def test_every_workers_calls_count(redis_settings: Settings, clock: Clock, make_staff, api: Api) -> None:
    worker, other = (create_app(redis_settings, clock=clock) for _ in range(2))
    try:
        call(worker, None)
        call(worker, UpstreamUnavailable)
        token = make_staff("root", "platform_admin")
        health = fund_health(Api(other.test_client()), token)
        assert health["last_hour"]["calls"] == 2 and health["last_hour"]["success_rate"] == 0.5
    finally:
        for application in (worker, other):
            application.extensions["engine"].dispose()
