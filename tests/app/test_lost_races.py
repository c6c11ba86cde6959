"""A race no use-case names still answers in the one error shape: 409 for the loser, never a 500."""

from __future__ import annotations

import sqlite3
from datetime import UTC
from datetime import datetime

from flask import Flask
from sqlalchemy.exc import IntegrityError
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from app.errors import handle_database_error
from identity.models import StaffMember


def test_a_unique_key_lost_to_another_transaction_is_a_409(app: Flask, session: Session) -> None:
    for _ in range(2):
        session.add(
            StaffMember(
                username="twin",
                display_name="Twin",
                password_hash="x",
                role="platform_admin",
                created_at=datetime.now(UTC),
            )
        )
        try:
            session.flush()
        except IntegrityError as error:
            lost = error
            break
    else:
        raise AssertionError("the database took a duplicate username")
    session.rollback()
    with app.test_request_context("/admin/api/staff", method="POST"):
        response = handle_database_error(lost)
    assert response.status_code == 409
    assert response.get_json()["error"]["code"] == "request.conflict"


def test_a_busy_sqlite_is_a_503_with_retry_after(app: Flask) -> None:
    busy = OperationalError("BEGIN IMMEDIATE", {}, busy_error())
    with app.test_request_context("/api/v1/me/real-name", method="POST"):
        response = handle_database_error(busy)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert response.get_json()["error"]["code"] == "database.busy"


def test_other_database_failures_stay_500s_without_a_trace(app: Flask) -> None:
    broken = OperationalError("SELECT", {}, sqlite3.OperationalError("no such table: x"))
    with app.test_request_context("/api/v1/cities"):
        response = handle_database_error(broken)
    assert response.status_code == 500
    assert "no such table" not in response.get_data(as_text=True)


def busy_error() -> sqlite3.OperationalError:
    """SQLite's own 'database is locked', from two connections contending for the write lock."""
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp()) / "busy.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    waiter = sqlite3.connect(path, isolation_level=None, timeout=0)
    try:
        waiter.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as error:
        return error
    finally:
        holder.close()
        waiter.close()
    raise AssertionError("SQLite let two writers in")
