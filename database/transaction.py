"""The only place a unit of work is committed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy.orm import Session


def end_reads(session: Session) -> None:
    """End the transaction earlier lookups began, so none stays open across a network call."""
    session.commit()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Commit what the block did, or roll all of it back if the block raises."""
    try:
        yield session
    except BaseException:
        session.rollback()
        raise
    session.commit()
