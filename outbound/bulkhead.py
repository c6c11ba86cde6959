"""Bulkheads: a bound on the calls one process has in flight to one connection.

A hanging upstream can then hold only its own share of a worker's threads; the rest keep
serving health checks, tiles and every other city.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from errors import UpstreamUnavailable

# How long a call waits for a free place before it is refused: long enough to ride out a burst,
# short enough that callers of a hanging upstream do not pile up behind it (a waiter holds a thread).
WAIT_SECONDS = 0.1


class Bulkheads:
    """One bounded semaphore per connection in this process, rebuilt when the bound changes."""

    def __init__(self, wait_seconds: float = WAIT_SECONDS) -> None:
        self.wait_seconds = wait_seconds
        self._places: dict[str, tuple[int, threading.BoundedSemaphore]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def place(self, connection: str, limit: int) -> Iterator[None]:
        """Hold one of the connection's places for the duration of a call, or refuse as busy."""
        places = self._places_of(connection, limit)
        if not places.acquire(timeout=self.wait_seconds):
            raise UpstreamUnavailable(
                "upstream.busy", "The service is answering too many requests right now.", retry_after=1
            )
        try:
            yield
        finally:
            places.release()

    def _places_of(self, connection: str, limit: int) -> threading.BoundedSemaphore:
        with self._lock:
            known = self._places.get(connection)
            if known is None or known[0] != limit:
                # Calls holding the old semaphore release it; new calls count against the new bound.
                known = (limit, threading.BoundedSemaphore(limit))
                self._places[connection] = known
            return known[1]
