"""Another process hears of an operator's change within a second: by Redis, PostgreSQL NOTIFY, or a bounded poll.

The second app instance here stands for another gunicorn worker: its cache is blind to commits made
in this process (as another process is), so only the mechanism under test can tell it of a change.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import redis
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import create_app
from app.catalogue_news import LISTENER_NAME
from app.catalogue_news import DatabaseFileNews
from app.catalogue_news import Listener
from app.catalogue_news import PostgresNews
from app.catalogue_news import RedisNews
from city_services.catalogue import CatalogueCache
from city_services.catalogue_changes import CatalogueChanges
from city_services.catalogue_changes import CommitsHere
from city_services.catalogue_changes import NoNews
from config import Settings
from tests.conftest import Api
from tests.conftest import Clock
from tests.conftest import require_service

pytestmark = pytest.mark.usefixtures("seeded")
TILES = "/api/v1/cities/330100/services?channel=wechat"
CAR_MOVE = "/admin/api/cities/330100/services/car_move/channels/wechat"
ON_POSTGRESQL = pytest.mark.parametrize(
    "database_url", [pytest.param("postgresql", marks=pytest.mark.postgres)], indirect=True
)
ON_SQLITE = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


class Elsewhere(CommitsHere):
    """Commits made in this process, as another process sees them: not at all."""

    def watch(self) -> None:
        """Never counts."""


class FrozenTimer:
    """A monotonic clock that never moves: no poll ever falls due, only news makes the cache re-read."""

    def __call__(self) -> float:
        return 0.0


class RevisionReads:
    """Counts the statements an app runs that read the catalogue revision."""

    def __init__(self, app: Flask) -> None:
        self.count = 0
        event.listen(app.extensions["engine"], "before_cursor_execute", self.seen)

    def seen(self, conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        if "catalogue_revision" in statement:
            self.count += 1


@pytest.fixture
def other_worker(settings: Settings, clock: Clock) -> Iterator[Callable[..., Api]]:
    """Builds a second instance on the same database whose cache hears only through the news given."""
    built: list[Flask] = []

    def build(news: CatalogueChanges, **cache_options: Any) -> Api:
        other = create_app(settings, clock=clock)
        other.extensions["catalogue_cache"] = CatalogueCache(news, local_commits=Elsewhere(), **cache_options)
        built.append(other)
        return Api(other.test_client())

    yield build
    for other in built:
        other.extensions["engine"].dispose()


@pytest.fixture
def change_car_move(api: Api, make_staff: Callable[..., str]) -> Callable[[bool], None]:
    """An operator switches Hangzhou's WeChat car-move tile on or off through the admin API."""
    token = make_staff("ops", "city_operator", ("330100",))

    def change(enabled: bool) -> None:
        api.patch(CAR_MOVE, json={"reason": "news test", "enabled": enabled}, token=token)

    return change


def car_move_state(worker: Api) -> str:
    state: str = next(t["state"] for t in worker.get(TILES)["tiles"] if t["code"] == "car_move")
    return state


def seconds_until_shown(worker: Api, state: str, limit: float = 3.0) -> float:
    """Ask every 20 ms until the tile shows the state; how long that took (fails past the limit)."""
    started = time.monotonic()
    while car_move_state(worker) != state:
        assert time.monotonic() - started < limit, f"still not {state} after {limit} s"
        time.sleep(0.02)
    return time.monotonic() - started


def wait_until(condition: Callable[[], bool], limit: float = 10.0) -> None:
    deadline = time.monotonic() + limit
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def connected(news: Listener) -> Callable[[], bool]:
    """Starts the listener (as a first request would) and tells whether it is subscribed."""

    def check() -> bool:
        news.stamp()
        return news.listening()

    return check


@pytest.fixture
def redis_url() -> str:
    return require_service("TEST_REDIS_URL")


@pytest.fixture
def postgres_news(settings: Settings) -> Iterator[PostgresNews]:
    news = PostgresNews(settings.database_url)
    yield news
    news.close()


@pytest.fixture
def redis_news(redis_url: str) -> Iterator[RedisNews]:
    news = RedisNews(redis_url)
    yield news
    news.close()


def test_without_news_another_worker_polls_the_revision_at_most_twice_a_second(
    other_worker: Callable[..., Api], change_car_move: Callable[[bool], None]
) -> None:
    other = other_worker(NoNews())
    assert car_move_state(other) == "available"
    reads = RevisionReads(other.client.application)
    requests_before = 0
    started = time.monotonic()
    while time.monotonic() - started < 1.0:
        car_move_state(other)
        requests_before += 1
    assert reads.count <= 3 < requests_before  # a poll, not a query per request

    change_car_move(False)
    assert seconds_until_shown(other, "unavailable") < 1.0


@ON_SQLITE
def test_on_sqlite_another_worker_sees_a_write_to_the_file_within_milliseconds(
    other_worker: Callable[..., Api], settings: Settings, change_car_move: Callable[[bool], None]
) -> None:
    database = Path(make_url(settings.database_url).database or "")
    every_request = other_worker(DatabaseFileNews(database, look_every=0), monotonic=FrozenTimer())
    as_configured = other_worker(DatabaseFileNews(database), monotonic=FrozenTimer())
    for worker in (every_request, as_configured):
        assert car_move_state(worker) == "available"
    reads = RevisionReads(every_request.client.application)
    for _ in range(5):
        car_move_state(every_request)
    assert reads.count == 0
    change_car_move(False)
    assert car_move_state(every_request) == "unavailable"
    assert seconds_until_shown(as_configured, "unavailable") < 0.2


@ON_POSTGRESQL
def test_postgresql_notify_reaches_another_worker(
    other_worker: Callable[..., Api], postgres_news: PostgresNews, change_car_move: Callable[[bool], None]
) -> None:
    other = other_worker(postgres_news, monotonic=FrozenTimer())
    wait_until(connected(postgres_news))
    assert car_move_state(other) == "available"
    change_car_move(False)
    assert seconds_until_shown(other, "unavailable") < 1.0
    change_car_move(True)
    assert seconds_until_shown(other, "available") < 1.0


@ON_POSTGRESQL
def test_the_postgresql_listener_comes_back_after_its_connection_is_killed(
    other_worker: Callable[..., Api],
    postgres_news: PostgresNews,
    settings: Settings,
    change_car_move: Callable[[bool], None],
) -> None:
    other = other_worker(postgres_news, monotonic=FrozenTimer())
    wait_until(connected(postgres_news))
    assert car_move_state(other) == "available"
    admin = create_engine(settings.database_url)
    listener_backends = text(
        "SELECT pid FROM pg_stat_activity WHERE application_name = :name AND datname = current_database()"
    )
    with admin.begin() as connection:
        killed = connection.execute(listener_backends, {"name": LISTENER_NAME}).scalars().all()
        assert killed
        for pid in killed:
            connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    wait_until(lambda: not postgres_news.listening())
    wait_until(connected(postgres_news))
    with admin.begin() as connection:
        assert set(connection.execute(listener_backends, {"name": LISTENER_NAME}).scalars()) - set(killed)
    admin.dispose()
    assert car_move_state(other) == "available"
    change_car_move(False)
    assert seconds_until_shown(other, "unavailable") < 1.0


@pytest.fixture
def change_over_redis(
    settings: Settings, clock: Clock, redis_url: str, make_staff: Callable[..., str]
) -> Iterator[Callable[[bool], None]]:
    """The operator's change made through an instance that announces on Redis (REDIS_URL set)."""
    announcing = create_app(replace(settings, redis_url=redis_url), clock=clock)
    token = make_staff("ops", "city_operator", ("330100",))

    def change(enabled: bool) -> None:
        Api(announcing.test_client()).patch(CAR_MOVE, json={"reason": "news test", "enabled": enabled}, token=token)

    yield change
    announcing.extensions["engine"].dispose()


@pytest.mark.redis
def test_redis_pubsub_reaches_another_worker(
    redis_news: RedisNews, other_worker: Callable[..., Api], change_over_redis: Callable[[bool], None]
) -> None:
    other = other_worker(redis_news, monotonic=FrozenTimer())
    wait_until(connected(redis_news))
    assert car_move_state(other) == "available"
    change_over_redis(False)
    assert seconds_until_shown(other, "unavailable") < 1.0
    change_over_redis(True)
    assert seconds_until_shown(other, "available") < 1.0


@pytest.mark.redis
def test_the_redis_listener_comes_back_after_its_connection_is_killed(
    redis_url: str,
    redis_news: RedisNews,
    other_worker: Callable[..., Api],
    change_over_redis: Callable[[bool], None],
) -> None:
    other = other_worker(redis_news, monotonic=FrozenTimer())
    wait_until(connected(redis_news))
    assert car_move_state(other) == "available"
    server = redis.Redis.from_url(redis_url, decode_responses=True)

    def listeners() -> set[str]:
        return {c["id"] for c in server.client_list() if c["name"] == LISTENER_NAME}

    killed = listeners()
    assert killed
    for client_id in killed:
        server.client_kill_filter(_id=client_id)
    wait_until(lambda: bool(listeners() - killed))
    wait_until(connected(redis_news))
    server.close()
    assert car_move_state(other) == "available"
    change_over_redis(False)
    assert seconds_until_shown(other, "unavailable") < 1.0


@ON_POSTGRESQL
def test_listeners_start_on_first_use_not_when_the_app_is_built(app: Flask, api: Api) -> None:
    news = app.extensions["catalogue_news"]
    assert isinstance(news, PostgresNews)
    assert news.thread_name not in {t.name for t in threading.enumerate()}
    api.get(TILES)
    assert news.thread_name in {t.name for t in threading.enumerate()}
    wait_until(news.listening)
    assert next(t for t in threading.enumerate() if t.name == news.thread_name).daemon
