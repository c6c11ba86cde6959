"""How a process learns that the stored catalogue changed, without asking the database on every request."""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Any
from typing import Protocol

from sqlalchemy import event
from sqlalchemy.orm import Session
from sqlalchemy.orm import SessionTransaction

# The session.info key bump_revision sets: this transaction changes what residents see.
CHANGED = "citytiles.catalogue_changed"


class CatalogueChanges(Protocol):
    """News of catalogue changes committed by other processes (Redis pub/sub, PostgreSQL NOTIFY, a file's stamp)."""

    def stamp(self) -> Hashable:
        """A value that moves whenever the catalogue may have changed; costs no database round trip."""
        ...

    def listening(self) -> bool:
        """Whether news arrives by itself now; when not, the cache re-reads the revision every fraction of a second."""
        ...


class NoNews:
    """No way to hear of other processes' changes: the cache falls back to re-reading the revision often."""

    def stamp(self) -> Hashable:
        """Never moves."""
        return None

    def listening(self) -> bool:
        """Never."""
        return False


def changes_catalogue(session: Session) -> bool:
    """Whether the session's current transaction changes the catalogue (bump_revision ran in it)."""
    return bool(session.info.get(CHANGED))


class CommitsHere:
    """Counts catalogue changes committed by this process, so every cache in it sees them on its next request."""

    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()
        self._watching = False

    def watch(self) -> None:
        """Start counting (once per process): every session's commit is seen, whichever app made it."""
        with self._lock:
            if not self._watching:
                event.listen(Session, "after_commit", self._after_commit)
                event.listen(Session, "after_transaction_end", self._after_transaction_end)
                self._watching = True

    def _after_commit(self, session: Session) -> None:
        if changes_catalogue(session):
            with self._lock:
                self.count += 1

    def _after_transaction_end(self, session: Session, transaction: SessionTransaction, *_: Any) -> None:
        # After commit or rollback of the outermost transaction: the next one starts unchanged.
        if transaction.parent is None:
            session.info.pop(CHANGED, None)


COMMITS_HERE = CommitsHere()
