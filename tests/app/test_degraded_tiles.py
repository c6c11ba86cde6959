"""An open breaker shows as a degraded tile for that city × service only, and recovers by itself."""

from __future__ import annotations

import time
from dataclasses import replace
from datetime import timedelta

import pytest
from flask import Flask

from app import create_app
from city_services.upstream_link import connection_key
from config import Settings
from errors import UpstreamUnavailable
from outbound.policy import CallPolicy
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
POLICY = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=2, reset_seconds=0.2, read_retries=0)


def fail(app: Flask, city: str, service: str, times: int, policy: CallPolicy = POLICY) -> None:
    """Calls to the connection that get no usable answer, as a hanging or refusing upstream gives."""

    def unusable() -> None:
        raise UpstreamUnavailable("upstream.unavailable", "busy")

    for _ in range(times):
        with pytest.raises(UpstreamUnavailable):
            app.extensions["outbound"].call(connection_key(city, service), "account", policy, unusable)


def succeed(app: Flask, city: str, service: str, policy: CallPolicy = POLICY) -> None:
    app.extensions["outbound"].call(connection_key(city, service), "account", policy, lambda: None)


def states(api: Api, city: str, channel: str = "wechat", **headers: str) -> dict[str, tuple[str, str | None]]:
    body = api.get(f"/api/v1/cities/{city}/services?channel={channel}", headers=headers)
    return {t["code"]: (t["state"], t["message"]) for t in body["tiles"]}


def test_an_open_breaker_degrades_that_tile_on_both_channels_and_nothing_else(app: Flask, api: Api) -> None:
    fail(app, "330100", "housing_fund", POLICY.failure_threshold)
    for channel in ("wechat", "alipay"):
        tiles = states(api, "330100", channel)
        assert tiles["housing_fund"][0] == "degraded"
        assert "暂时无法访问" in (tiles["housing_fund"][1] or "")
        assert tiles["car_move"] == ("available", None) and tiles["outpatient"] == ("available", None)
    assert {state for state, _ in states(api, "440300").values()} == {"available"}
    english = states(api, "330100", **{"Accept-Language": "en"})
    assert "cannot be reached" in (english["housing_fund"][1] or "")


def test_the_tile_recovers_when_a_trial_call_succeeds(app: Flask, api: Api) -> None:
    # Open long enough that a busy machine still reads the tiles before the breaker lets a trial through.
    policy = replace(POLICY, reset_seconds=1.5)
    fail(app, "440300", "outpatient", policy.failure_threshold, policy)
    assert states(api, "440300")["outpatient"][0] == "degraded"
    time.sleep(policy.reset_seconds + 0.05)
    succeed(app, "440300", "outpatient", policy)  # the trial
    assert states(api, "440300")["outpatient"] == ("available", None)


def test_a_degraded_tile_is_not_kept_by_clients_for_long(app: Flask, client) -> None:
    fail(app, "330100", "car_move", POLICY.failure_threshold)
    response = client.get("/api/v1/cities/330100/services?channel=wechat")
    assert response.headers["Cache-Control"] == "public, max-age=5"


def test_maintenance_wins_over_degraded(app: Flask, api: Api, make_staff, clock: Clock) -> None:
    fail(app, "330100", "housing_fund", POLICY.failure_threshold)
    token = make_staff("ops", "platform_admin")
    window = {
        "starts_at": (clock() - timedelta(minutes=5)).isoformat(),
        "ends_at": (clock() + timedelta(hours=2)).isoformat(),
        "message_zh": "系统升级",
        "message_en": "Upgrade",
    }
    api.patch(
        "/admin/api/cities/330100/services/housing_fund/channels/wechat",
        token=token,
        json={"maintenance_windows": [window], "reason": "centre upgrade"},
    )
    assert states(api, "330100")["housing_fund"] == ("maintenance", "系统升级")


@pytest.mark.redis
def test_every_worker_shows_the_tile_degraded_within_a_second(redis_settings: Settings, clock: Clock) -> None:
    opener, other = (create_app(redis_settings, clock=clock) for _ in range(2))
    try:
        other_api = Api(other.test_client())
        assert states(other_api, "330100")["housing_fund"][0] == "available"
        # Open long enough to be read as open after the one-second interval, in the other worker too.
        policy = CallPolicy(timeout_seconds=1, max_concurrent_calls=4, failure_threshold=2, reset_seconds=2.5)
        fail(opener, "330100", "housing_fund", policy.failure_threshold, policy)
        time.sleep(1.05)
        assert states(other_api, "330100")["housing_fund"][0] == "degraded"
        assert states(other_api, "440300")["housing_fund"][0] == "available"
        # Its open spell over, the tile comes back in every worker without anyone calling: the next tap is the trial.
        time.sleep(1.5)
        assert states(other_api, "330100")["housing_fund"][0] == "available"
        succeed(opener, "330100", "housing_fund")
        assert states(other_api, "330100")["housing_fund"][0] == "available"
    finally:
        for application in (opener, other):
            application.extensions["engine"].dispose()
