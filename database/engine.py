"""Engines and session factories, built by the caller from settings."""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine import Dialect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import InvalidatePoolError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from database.transaction import WRITING
from database.transaction import track_flushes

# How long a writer waits for SQLite's single write lock before the request is answered 503.
SQLITE_BUSY_TIMEOUT_SECONDS = 10
# A pooled connection back from use less than this long ago is handed out without a ping (HikariCP's
# aliveBypassWindowMs, 500 ms by default). Pinging at every checkout cost a busy endpoint a round trip
# per request, a fifth of a payment notification's CPU on both sides; a connection idle for longer (where
# a restarted server or a dropped socket hides) is still pinged before use.
ALIVE_WITHOUT_PING_SECONDS = 0.5
_BACK_AT = "citytiles_back_at"


def make_engine(url: str, alive_without_ping: float = ALIVE_WITHOUT_PING_SECONDS) -> Engine:
    """Create an engine tuned for the database the URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        # LIFO: under light load the same few connections serve and stay within the window; the rest
        # idle, and are pinged when next used.
        server = create_engine(url, pool_size=10, max_overflow=10, pool_use_lifo=True, hide_parameters=True)
        ping_when_idle(server, alive_without_ping)
        return server
    # hide_parameters: a failed statement's values (sealed PII, openids) never reach an error log.
    options: dict[str, Any] = {
        "connect_args": {"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_SECONDS},
        "hide_parameters": True,
    }
    if parsed.database in (None, "", ":memory:"):
        # One shared connection, or every checkout would see a new empty database.
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options)
    event.listen(engine, "connect", _configure_sqlite)
    event.listen(engine, "begin", _begin_sqlite)
    return engine


def ping_when_idle(engine: Engine, alive_without_ping: float) -> None:
    """Ping a pooled connection before handing it out only when it has been idle longer than the window."""
    dialect = engine.dialect

    def note_return(dbapi_connection: Any, record: Any) -> None:
        record.info[_BACK_AT] = time.monotonic()

    def check_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        back_at = record.info.pop(_BACK_AT, None)  # none on a connection made for this checkout
        if back_at is not None and time.monotonic() - back_at >= alive_without_ping:
            if not _answers(dialect, dbapi_connection):
                # The server went away meanwhile (a restart, a failover): the pool replaces this connection
                # and every other it held from before, and checks out a fresh one.
                raise InvalidatePoolError("a pooled connection was closed while it idled")

    event.listen(engine, "checkin", note_return)
    event.listen(engine, "checkout", check_out)


def _answers(dialect: Dialect, dbapi_connection: Any) -> bool:
    """The server answers on this connection; False when it is gone, any other failure raised."""
    try:
        return bool(dialect.do_ping(dbapi_connection))
    except dialect.loaded_dbapi.Error as error:
        if dialect.is_disconnect(error, dbapi_connection, None):
            return False
        raise


def _configure_sqlite(dbapi_connection: Any, connection_record: Any) -> None:
    """Enforce foreign keys, let readers work while a writer commits, and begin transactions ourselves."""
    # Python's sqlite3 would otherwise send a deferred BEGIN only before the first write, so two
    # transactions could both read, then one fail to write ("database is locked") or both act on
    # what they read: SELECT ... FOR UPDATE means nothing to SQLite.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_SECONDS * 1000}")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """A writing transaction takes SQLite's write lock as it begins, so it serialises like a row lock."""
    options = connection.get_execution_options()
    if options.get("isolation_level") == "AUTOCOMMIT":
        return  # asked for autocommit: SQLite commits each statement as it runs, and no COMMIT follows
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITING, False) else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, as a web request needs."""
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    track_flushes(sessions)
    return sessions
