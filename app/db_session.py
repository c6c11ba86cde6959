"""One database session per request, closed when the request ends."""

from __future__ import annotations

from flask import Flask
from flask import current_app
from flask import g
from sqlalchemy.orm import Session


def get_session() -> Session:
    """The current request's session, created on first use."""
    if "db_session" not in g:
        g.db_session = current_app.extensions["session_factory"]()
    session: Session = g.db_session
    return session


def close_session(exception: BaseException | None = None) -> None:
    """Close the request's session; anything left uncommitted is rolled back."""
    session = g.pop("db_session", None)
    if session is not None:
        session.close()


def init_db_session(app: Flask) -> None:
    """Close each request's session on teardown."""
    app.teardown_appcontext(close_session)
