"""Tiles come from a per-process cache that asks the database nothing while warm; a commit here shows at once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import event

from app import create_app
from city_services.catalogue import CatalogueCache
from city_services.catalogue_changes import NoNews
from config import Settings
from tests.conftest import Api
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
TILES = "/api/v1/cities/330100/services?channel=wechat"


class StatementCounter:
    """Counts the SQL statements an engine runs."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        event.listen(app.extensions["engine"], "before_cursor_execute", self.seen)

    def seen(self, connection: object, cursor: object, statement: str, *args: object) -> None:
        # Transaction control (SQLite's BEGIN, sent by us) is not a query.
        if statement not in ("BEGIN", "BEGIN IMMEDIATE"):
            self.count += 1


@pytest.fixture
def second_worker(settings: Settings, clock: Clock) -> Iterator[Flask]:
    """Another app instance on the same database, as a second gunicorn worker would be."""
    other = create_app(settings, clock=clock)
    yield other
    other.extensions["engine"].dispose()


def test_a_warm_cache_asks_the_database_nothing(app: Flask, api: Api) -> None:
    # A timer that never moves and no news: nothing says "re-read", so any statement would be per request.
    app.extensions["catalogue_cache"] = CatalogueCache(NoNews(), monotonic=lambda: 0.0)
    api.get(TILES)
    api.get("/api/v1/cities")
    counter = StatementCounter(app)
    for _ in range(5):
        api.get(TILES)
        api.get("/api/v1/cities")
    assert counter.count == 0


def test_a_change_made_through_one_worker_shows_in_another_at_once(
    app: Flask, second_worker: Flask, api: Api, make_staff
) -> None:
    other = Api(second_worker.test_client())
    # No news from outside and no poll: only the commit made in this process can tell it.
    second_worker.extensions["catalogue_cache"] = CatalogueCache(NoNews(), monotonic=lambda: 0.0)
    assert other.get(TILES)["tiles"][1]["state"] == "available"
    counter = StatementCounter(second_worker)
    other.get(TILES)
    assert counter.count == 0

    token = make_staff("ops", "city_operator", ("330100",))
    api.patch(
        "/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "owner notification line down", "enabled": False},
        token=token,
    )
    assert other.get(TILES)["tiles"][1]["state"] == "unavailable"
    assert counter.count > 1  # it reloaded
    api.patch(
        "/admin/api/cities/330100/services/car_move/channels/wechat",
        json={"reason": "line restored", "enabled": True},
        token=token,
    )
    assert other.get(TILES)["tiles"][1]["state"] == "available"
