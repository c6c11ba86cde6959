"""Pooled PostgreSQL connections: pinged before use only after idling, and replaced when the server closed them."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import Engine
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from database.engine import make_engine
from tests.database.test_transaction import terminate

pytestmark = pytest.mark.postgres


def backend_of(engine_url: str, alive_without_ping: float) -> tuple[Engine, int]:
    """An engine with the given window, and the server process behind its one pooled connection."""
    server = make_engine(engine_url, alive_without_ping=alive_without_ping)
    with server.connect() as connection:
        return server, int(connection.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_closed_while_it_idled_is_pinged_and_replaced(empty_postgres_url: str) -> None:
    server, backend = backend_of(empty_postgres_url, alive_without_ping=0.2)
    try:
        terminate(empty_postgres_url, backend)
        time.sleep(0.2)  # idle past the window
        with server.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        server.dispose()


def test_a_live_connection_that_idled_is_pinged_and_kept(empty_postgres_url: str) -> None:
    server, backend = backend_of(empty_postgres_url, alive_without_ping=0.2)
    try:
        time.sleep(0.3)
        with server.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() == backend
    finally:
        server.dispose()


def test_a_connection_back_within_the_window_is_handed_out_unpinged(empty_postgres_url: str) -> None:
    server, backend = backend_of(empty_postgres_url, alive_without_ping=60)
    try:
        terminate(empty_postgres_url, backend)
        with pytest.raises(DBAPIError) as lost, server.connect() as connection:
            connection.execute(text("SELECT 1"))
        assert lost.value.connection_invalidated  # dropped from the pool, so the next request has a live one
        with server.connect() as connection:
            assert connection.execute(text("SELECT pg_backend_pid()")).scalar_one() != backend
    finally:
        server.dispose()
