"""One AttemptCounter contract, over the database (SQLite and PostgreSQL) and over a real Redis."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy import text

from app.redis_attempts import RedisAttempts
from database.engine import make_engine
from identity.attempt_counts import DatabaseAttempts
from identity.attempts import AttemptCounter
from identity.attempts import AttemptKey
from identity.attempts import CounterUnavailable
from identity.models import AttemptCount
from migrations.metadata import target_metadata
from tests.conftest import require_service

SECRET = b"contract-test-counter-secret-32b"
NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
WINDOW = timedelta(minutes=15)
ADMIN = AttemptKey("staff_login.username", "admin", "203.0.113.7")


@dataclass
class Store:
    """A counter, and everything its store holds rendered as text (to look for names kept in clear)."""

    counter: AttemptCounter
    stored_text: Callable[[], str]


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        pytest.param("redis", marks=pytest.mark.redis),
    ]
)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    """Each implementation on a fresh store."""
    if request.param == "redis":
        client = redis.Redis.from_url(require_service("TEST_REDIS_URL"))
        prefix = f"test:attempts:{secrets.token_hex(6)}"

        def redis_text() -> str:
            return "".join(
                f"{name!r}{client.hgetall(name)!r}" for name in sorted(client.scan_iter(match=f"{prefix}:*"))
            )

        yield Store(RedisAttempts(client, SECRET, prefix), redis_text)
        names = list(client.scan_iter(match=f"{prefix}:*"))
        if names:
            client.delete(*names)
        client.close()
        return
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'counters.db'}"
        engine = make_engine(url)
        target_metadata.create_all(engine)
    else:
        engine = make_engine(request.getfixturevalue("empty_postgres_url"))

    def database_text() -> str:
        with engine.connect() as connection:
            return repr(connection.execute(text("SELECT * FROM attempt_counts")).all())

    yield Store(DatabaseAttempts(engine, SECRET), database_text)
    engine.dispose()


def test_attempts_count_up_within_a_window(store: Store) -> None:
    tallies = [store.counter.count(ADMIN, window=WINDOW, now=NOW + timedelta(minutes=i)) for i in range(6)]
    assert [t.count for t in tallies] == [1, 2, 3, 4, 5, 6]
    assert {t.window_ends_at for t in tallies} == {NOW + WINDOW}
    assert not tallies[4].exceeds(5) and tallies[5].exceeds(5)
    assert tallies[5].retry_after(NOW + timedelta(minutes=5)) == 10 * 60


def test_an_ended_window_starts_again_at_one(store: Store) -> None:
    for _ in range(3):
        store.counter.count(ADMIN, window=WINDOW, now=NOW)
    later = NOW + WINDOW
    tally = store.counter.count(ADMIN, window=WINDOW, now=later)
    assert (tally.count, tally.window_ends_at) == (1, later + WINDOW)


def test_keys_differ_by_limit_subject_and_source(store: Store) -> None:
    store.counter.count(ADMIN, window=WINDOW, now=NOW)
    others = [
        AttemptKey("staff_login.address", "admin", "203.0.113.7"),
        AttemptKey("staff_login.username", "Admin", "203.0.113.7"),
        AttemptKey("staff_login.username", "admin", "203.0.113.8"),
        AttemptKey("staff_login.username", "admin"),
    ]
    assert [store.counter.count(key, window=WINDOW, now=NOW).count for key in others] == [1, 1, 1, 1]
    assert store.counter.count(ADMIN, window=WINDOW, now=NOW).count == 2


def test_forgiving_takes_back_one_attempt_of_a_running_window_only(store: Store) -> None:
    store.counter.forgive(ADMIN, now=NOW)  # nothing counted: nothing to take back
    for _ in range(3):
        store.counter.count(ADMIN, window=WINDOW, now=NOW)
    store.counter.forgive(ADMIN, now=NOW)
    assert store.counter.count(ADMIN, window=WINDOW, now=NOW).count == 3
    for _ in range(5):
        store.counter.forgive(ADMIN, now=NOW)
    assert store.counter.count(ADMIN, window=WINDOW, now=NOW).count == 1
    store.counter.forgive(ADMIN, now=NOW + WINDOW)
    assert store.counter.count(ADMIN, window=WINDOW, now=NOW + WINDOW).count == 1


def test_clearing_one_source_or_every_source_of_a_subject(store: Store) -> None:
    here, there = ADMIN, AttemptKey(ADMIN.limit, ADMIN.subject, "198.51.100.1")
    bystander = AttemptKey(ADMIN.limit, "ada", ADMIN.source)
    for key in (here, there, bystander):
        store.counter.count(key, window=WINDOW, now=NOW)
    store.counter.clear(ADMIN.limit, ADMIN.subject, ADMIN.source)
    assert store.counter.count(here, window=WINDOW, now=NOW).count == 1
    assert store.counter.count(there, window=WINDOW, now=NOW).count == 2
    store.counter.clear(ADMIN.limit, ADMIN.subject)
    assert store.counter.count(here, window=WINDOW, now=NOW).count == 1
    assert store.counter.count(there, window=WINDOW, now=NOW).count == 1
    assert store.counter.count(bystander, window=WINDOW, now=NOW).count == 2


def test_parallel_attempts_are_all_counted(store: Store) -> None:
    with ThreadPoolExecutor(max_workers=20) as pool:
        counts = list(pool.map(lambda _: store.counter.count(ADMIN, window=WINDOW, now=NOW).count, range(40)))
    assert sorted(counts) == list(range(1, 41))


def test_usernames_and_addresses_are_never_stored_in_clear(store: Store) -> None:
    store.counter.count(
        AttemptKey("staff_login.username", "hunter2-typed-as-username", "203.0.113.7"), window=WINDOW, now=NOW
    )
    stored = store.stored_text()
    assert stored and "hunter2" not in stored and "203.0.113.7" not in stored


@pytest.mark.parametrize("url", ["sqlite", "postgresql"])
def test_the_database_purges_ended_windows_so_the_table_stays_bounded(
    request: pytest.FixtureRequest, tmp_path: Path, url: str
) -> None:
    if url == "sqlite":
        engine = make_engine(f"sqlite:///{tmp_path / 'counters.db'}")
        target_metadata.create_all(engine)
    else:
        engine = make_engine(request.getfixturevalue("empty_postgres_url"))
    counter = DatabaseAttempts(engine, SECRET)
    for i in range(250):
        counter.count(AttemptKey("staff_login.username", f"guess-{i}", "203.0.113.7"), window=WINDOW, now=NOW)
    later = NOW + WINDOW
    for i in range(3):
        counter.count(AttemptKey("staff_login.username", f"later-{i}", "203.0.113.7"), window=WINDOW, now=later)

    with engine.connect() as connection:
        assert connection.scalar(select(func.count()).select_from(AttemptCount)) == 3
    engine.dispose()


@pytest.mark.redis
def test_redis_keys_expire_with_their_window() -> None:
    client = redis.Redis.from_url(require_service("TEST_REDIS_URL"))
    counter = RedisAttempts(client, SECRET, f"test:attempts:{secrets.token_hex(6)}")
    now = datetime.now(UTC)
    counter.count(ADMIN, window=timedelta(seconds=90), now=now)
    [name] = client.scan_iter(match=f"{counter.prefix}:*")
    assert 0 < client.pttl(name) <= 90_000
    client.delete(name)
    client.close()


def test_an_unreachable_redis_refuses_rather_than_letting_attempts_through() -> None:
    client = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5, socket_timeout=0.5)
    counter = RedisAttempts(client, SECRET)
    with pytest.raises(CounterUnavailable) as refused:
        counter.count(ADMIN, window=WINDOW, now=NOW)
    assert refused.value.code == "limits.unavailable"
