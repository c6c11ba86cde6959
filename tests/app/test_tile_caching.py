"""Tiles and cities carry a strong ETag (304 on a match) and a short public max-age that never outlives a state."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from werkzeug.test import TestResponse

from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
TILES = "/api/v1/cities/330100/services?channel=wechat"
CAR_MOVE = "/admin/api/cities/330100/services/car_move/channels/wechat"


@pytest.fixture
def operator(api: Api, make_staff: Callable[..., str]) -> Callable[..., Any]:
    """Sends a change to Hangzhou's WeChat car-move offering as its city operator."""
    token = make_staff("ops", "city_operator", ("330100",))

    def change(**fields: Any) -> Any:
        return api.patch(CAR_MOVE, json={"reason": "caching test", **fields}, token=token)

    return change


def car_move(response: TestResponse) -> dict[str, Any]:
    tile: dict[str, Any] = next(t for t in response.get_json()["tiles"] if t["code"] == "car_move")
    return tile


def max_age(response: TestResponse) -> int:
    directives = dict(d.strip().partition("=")[::2] for d in response.headers["Cache-Control"].split(","))
    assert "public" in directives
    return int(directives["max-age"])


@pytest.mark.parametrize("path", [TILES, "/api/v1/cities"])
def test_a_matching_etag_gets_304_without_a_body(api: Api, path: str) -> None:
    first = api.client.get(path)
    etag = first.headers["ETag"]
    assert first.status_code == 200 and etag.startswith('"') and not etag.startswith("W/")
    assert 0 < max_age(first) <= 30
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        again = api.client.get(path, headers={"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.get_data() == b"" and again.headers["ETag"] == etag
        assert again.headers["Cache-Control"] == first.headers["Cache-Control"]
    assert api.client.get(path, headers={"If-None-Match": '"stale"'}).status_code == 200


def test_the_etag_follows_the_body(api: Api, operator: Callable[..., Any]) -> None:
    before = api.client.get(TILES)
    english = api.client.get(TILES, headers={"Accept-Language": "en"})
    assert english.headers["ETag"] != before.headers["ETag"]
    assert "Accept-Language" in english.headers["Vary"]
    operator(enabled=False)
    after = api.client.get(TILES, headers={"If-None-Match": before.headers["ETag"]})
    assert after.status_code == 200 and car_move(after)["state"] == "unavailable"
    assert after.headers["ETag"] != before.headers["ETag"]
    operator(enabled=True)
    assert api.client.get(TILES).headers["ETag"] == before.headers["ETag"]


def test_cached_tiles_flip_exactly_at_a_maintenance_window(api: Api, clock: Clock, operator) -> None:
    starts, ends = clock() + timedelta(minutes=1), clock() + timedelta(minutes=31)
    window = {"starts_at": starts.isoformat(), "ends_at": ends.isoformat(), "message_zh": "升级"}
    operator(maintenance_windows=[window])

    available = api.client.get(TILES)
    assert car_move(available)["state"] == "available" and max_age(available) == 30
    clock.advance(seconds=50)
    later = api.client.get(TILES)
    assert later.headers["ETag"] == available.headers["ETag"] and max_age(later) == 10
    clock.advance(seconds=9, microseconds=999_999)
    assert car_move(api.client.get(TILES))["state"] == "available"
    clock.advance(microseconds=1)  # exactly the window's start
    during = api.client.get(TILES, headers={"If-None-Match": available.headers["ETag"]})
    assert during.status_code == 200 and car_move(during)["state"] == "maintenance"
    assert car_move(during)["available_again_at"] == ends.isoformat()
    clock.now = ends - timedelta(seconds=3)
    assert max_age(api.client.get(TILES)) == 3
    clock.now = ends
    after = api.client.get(TILES)
    assert car_move(after)["state"] == "available" and after.headers["ETag"] == available.headers["ETag"]


def test_cached_tiles_flip_exactly_at_closing_time(api: Api, clock: Clock, operator) -> None:
    # The test clock reads 10:00 in Hangzhou on a Wednesday.
    operator(hours={"opens_at": "08:00", "closes_at": "10:05", "weekdays": "12345"})
    assert car_move(api.client.get(TILES))["state"] == "available"
    clock.advance(minutes=4, seconds=59)
    last = api.client.get(TILES)
    assert car_move(last)["state"] == "available" and max_age(last) == 1
    clock.advance(seconds=1)
    closed = car_move(api.client.get(TILES))
    assert closed["state"] == "off_hours"
    assert closed["available_again_at"] == (clock() + timedelta(hours=21, minutes=55)).isoformat()


def test_remembered_queries_still_answer_each_query_string_for_itself(api: Api) -> None:
    for _ in range(2):
        for channel in ("wechat", "alipay"):
            assert api.get(f"/api/v1/cities/330100/services?channel={channel}")["channel"] == channel
        refused = api.get("/api/v1/cities/330100/services?channel=douyin", expected=422)
        assert "channel" in refused["error"]["details"]["fields"]
