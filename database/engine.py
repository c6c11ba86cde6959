"""Engines and session factories, built by the caller from settings."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlalchemy import create_engine
from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import StaticPool

from database.transaction import WRITING
from database.transaction import track_flushes

# How long a writer waits for SQLite's single write lock before the request is answered 503.
SQLITE_BUSY_TIMEOUT_SECONDS = 10


def make_engine(url: str) -> Engine:
    """Create an engine tuned for the database the URL names."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=10, hide_parameters=True)
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
        return  # one statement on its own (one_statement): SQLite commits it as it runs, and no COMMIT follows
    connection.exec_driver_sql("BEGIN IMMEDIATE" if options.get(WRITING, False) else "BEGIN")


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions whose objects stay readable after commit, as a web request needs."""
    sessions = sessionmaker(bind=engine, expire_on_commit=False)
    track_flushes(sessions)
    return sessions
