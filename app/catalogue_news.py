"""How each process hears of catalogue changes committed elsewhere: Redis pub/sub, PostgreSQL NOTIFY, SQLite's file.

Adapters of city_services' CatalogueChanges port. A listener is a daemon thread started in each
process on first use (gunicorn forks workers, so never at import or in the master), reconnecting
after its connection drops; the cache polls the revision while it is not connected.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Hashable
from pathlib import Path
from time import monotonic

import psycopg
import redis
from sqlalchemy import Engine
from sqlalchemy import event
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from city_services.catalogue_changes import CatalogueChanges
from city_services.catalogue_changes import NoNews
from city_services.catalogue_changes import changes_catalogue
from config import Settings

log = logging.getLogger("citytiles.catalogue")
# A PostgreSQL identifier and (with the database number) a Redis channel name alike.
CHANNEL = "citytiles_catalogue"
# How operators (and tests) recognise the listener's connection in pg_stat_activity or CLIENT LIST.
LISTENER_NAME = "citytiles-catalogue-listener"
# How long a listener waits for news before checking that its connection still works.
IDLE_CHECK_SECONDS = 5.0
# How stale another process's write may be before a worker on the same SQLite file looks for it.
FILE_LOOK_SECONDS = 0.02
FIRST_RETRY_SECONDS = 0.2
LAST_RETRY_SECONDS = 5.0


class Listener:
    """A subscription kept by a daemon thread, counting what it hears; subclasses say how to listen."""

    name = "listener"

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pid: int | None = None
        self._heard = 0
        self._connected = False
        self._retry_in = FIRST_RETRY_SECONDS
        self._closed = threading.Event()

    def stamp(self) -> Hashable:
        """How many notices (and connection changes) this process has heard of."""
        if self._pid != os.getpid():
            self._start()
        return self._heard

    def listening(self) -> bool:
        """Whether the subscription is up in this process now."""
        return self._connected and self._pid == os.getpid()

    def close(self) -> None:
        """Stop listening (the thread ends at its next idle check)."""
        self._closed.set()

    @property
    def thread_name(self) -> str:
        """The listener thread's name, telling one app's listener from another's."""
        return f"catalogue-{self.name}-{id(self):x}"

    def _start(self) -> None:
        with self._lock:
            if self._pid == os.getpid():
                return
            # A forked child inherits the parent's fields but not its thread.
            self._pid, self._connected = os.getpid(), False
            if not self._closed.is_set():
                threading.Thread(target=self._run, name=self.thread_name, daemon=True).start()

    def _run(self) -> None:
        while not self._closed.is_set():
            try:
                self._listen()
            except Exception as error:  # noqa: BLE001 - any failure means: reconnect after a pause
                log.warning(
                    "catalogue %s listener lost its connection; retrying",
                    self.name,
                    extra={"error": type(error).__name__},
                )
            self._connected = False
            self._hear()  # whatever was missed meanwhile: the next request re-reads the revision
            self._closed.wait(self._retry_in)
            self._retry_in = min(self._retry_in * 2, LAST_RETRY_SECONDS)

    def _listen(self) -> None:
        """Connect, subscribe, call `_subscribed` and then `_hear` per notice; return or raise when cut off."""
        raise NotImplementedError

    def _subscribed(self) -> None:
        self._connected, self._retry_in = True, FIRST_RETRY_SECONDS
        self._hear()  # news sent before the subscription took may be lost

    def _hear(self) -> None:
        with self._lock:
            self._heard += 1


class RedisNews(Listener):
    """Catalogue changes over Redis pub/sub."""

    name = "redis"

    def __init__(self, url: str) -> None:
        super().__init__()
        self._url = url
        # Pub/sub ignores database numbers: the channel carries it, so deployments sharing a server stay apart.
        self.channel = f"{CHANNEL}:{redis.connection.parse_url(url).get('db', 0)}"
        self._publisher: redis.Redis | None = None

    def announce(self) -> None:
        """Publish that this process has just committed a change; a failure leaves others to their safety poll."""
        try:
            if self._publisher is None:
                self._publisher = redis.Redis.from_url(self._url, socket_timeout=1, socket_connect_timeout=1)
            self._publisher.publish(self.channel, "changed")
        except redis.RedisError as error:
            log.warning("catalogue change not published", extra={"error": type(error).__name__})

    def _listen(self) -> None:
        client = redis.Redis.from_url(
            self._url,
            socket_connect_timeout=2,
            socket_keepalive=True,
            health_check_interval=IDLE_CHECK_SECONDS,
            client_name=LISTENER_NAME,
        )
        pubsub = client.pubsub()
        try:
            pubsub.subscribe(self.channel)
            while not self._closed.is_set():
                message = pubsub.get_message(timeout=IDLE_CHECK_SECONDS)
                if message is None:
                    continue
                # redis-py re-subscribes by itself after some drops: each confirmation is a (re)connection.
                if message["type"] == "subscribe":
                    self._subscribed()
                elif message["type"] == "message":
                    self._hear()
        finally:
            pubsub.close()
            client.close()


class PostgresNews(Listener):
    """Catalogue changes over PostgreSQL LISTEN/NOTIFY; the NOTIFY rides in the changing transaction."""

    name = "postgresql"

    def __init__(self, database_url: str) -> None:
        super().__init__()
        self._conninfo = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)

    @staticmethod
    def announce_in(session: Session) -> None:
        """Queue the notice in the session's transaction: PostgreSQL delivers it exactly when (and if) it commits."""
        session.execute(select(func.pg_notify(CHANNEL, "changed")))

    def _listen(self) -> None:
        with psycopg.connect(
            self._conninfo, autocommit=True, connect_timeout=5, keepalives_idle=30, application_name=LISTENER_NAME
        ) as connection:
            connection.execute(f"LISTEN {CHANNEL}")
            self._subscribed()
            while not self._closed.is_set():
                for _ in connection.notifies(timeout=IDLE_CHECK_SECONDS):
                    self._hear()
                connection.execute("SELECT 1")  # a connection cut without a word raises only when used


class DatabaseFileNews:
    """SQLite's file is shared by every process: any write moves its stamp, looked at every few milliseconds.

    Not on every request: a stat call hands the interpreter lock to another of the worker's threads
    and back, which under load cost the tiles a tenth of their speed.
    """

    def __init__(self, path: Path, *, look_every: float = FILE_LOOK_SECONDS) -> None:
        self._database, self._write_ahead_log = str(path), f"{path}-wal"
        self._look_every = look_every
        self._looked: tuple[float, Hashable] = (-look_every, None)

    def stamp(self) -> Hashable:
        """Inode, size and modification time of the write-ahead log (every commit writes it), else of the file."""
        looked_at, stamp = self._looked
        now = monotonic()
        if now - looked_at >= self._look_every:
            # A checkpoint changes the file only with what the log already held, then restarts the log: a new stamp.
            stamp = _file_stamp(self._write_ahead_log) or _file_stamp(self._database)
            self._looked = (now, stamp)
        return stamp

    def listening(self) -> bool:
        """Never trusted alone: two writes in one clock tick may leave the same stamp, so the poll stays."""
        return False


class AnyNews:
    """Several sources at once: the stamp moves when any of them moves."""

    def __init__(self, *sources: CatalogueChanges) -> None:
        self._sources = sources

    def stamp(self) -> Hashable:
        """Every source's stamp."""
        return tuple(source.stamp() for source in self._sources)

    def listening(self) -> bool:
        """Whether any source's listener is connected."""
        return any(source.listening() for source in self._sources)


def _file_stamp(path: str) -> tuple[int, int, int] | None:
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None
    return found.st_ino, found.st_size, found.st_mtime_ns


def build_catalogue_news(
    settings: Settings, engine: Engine, session_factory: sessionmaker[Session]
) -> CatalogueChanges:
    """Choose how this app hears of changes and make its own commits tell the others; ends when the engine does.

    Redis when REDIS_URL is set, else PostgreSQL's NOTIFY when the database is PostgreSQL; on SQLite
    the file's stamp as well. With no listener connected the cache polls the revision twice a second.
    """
    database = make_url(settings.database_url)
    sources: list[CatalogueChanges] = []
    if settings.redis_url:
        sources.append(_redis_news(settings.redis_url, engine, session_factory))
    elif database.get_backend_name() == "postgresql":
        sources.append(_postgres_news(settings.database_url, engine, session_factory))
    if database.get_backend_name() == "sqlite" and database.database not in (None, "", ":memory:"):
        sources.append(DatabaseFileNews(Path(database.database)))
    if not sources:
        return NoNews()
    return sources[0] if len(sources) == 1 else AnyNews(*sources)


def _redis_news(url: str, engine: Engine, session_factory: sessionmaker[Session]) -> RedisNews:
    news = RedisNews(url)

    def publish_after(session: Session) -> None:
        if changes_catalogue(session):
            news.announce()

    event.listen(session_factory, "after_commit", publish_after)
    event.listen(engine, "engine_disposed", lambda _: news.close())
    return news


def _postgres_news(url: str, engine: Engine, session_factory: sessionmaker[Session]) -> PostgresNews:
    news = PostgresNews(url)

    def notify_within(session: Session) -> None:
        if changes_catalogue(session):
            PostgresNews.announce_in(session)

    event.listen(session_factory, "before_commit", notify_within)
    event.listen(engine, "engine_disposed", lambda _: news.close())
    return news
