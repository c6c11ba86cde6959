"""Which city services are degraded now: their connection's breaker refuses calls, in whichever worker opened it.

A tile is degraded while its breaker is open and for a trial under way; once the breaker's open spell
is over the tile shows available again by itself, so a resident's next tap is the trial that closes it
(or opens it again). Nobody has to tap a degraded tile for it to come back.

Tiles are the hottest path, so each process reads a breaker's state at most once per `ttl` seconds
(one Redis round trip per connection per second at most) and at once when a breaker of its own
opens or closes. Other workers see a change within `ttl`.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Protocol

from outbound.breaker import BreakerView

log = logging.getLogger("citytiles.upstreams")
WATCH_SECONDS = 1.0


class BreakerReader(Protocol):
    """Where breaker states are read from (outbound's Breakers)."""

    def view(self, connection: str) -> BreakerView:
        """The connection's breaker now."""


class BreakerWatch:
    """This process's recent reading of each connection's breaker."""

    def __init__(
        self,
        breakers: BreakerReader,
        *,
        ttl: float = WATCH_SECONDS,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._breakers = breakers
        self._ttl = ttl
        self._monotonic = monotonic
        self._clock = clock
        self._lock = threading.Lock()
        self._read: dict[str, tuple[float, bool]] = {}

    def refuses_calls(self, connection: str) -> bool:
        """Whether the connection's breaker refused calls when last read, reading again when that is too old."""
        now = self._monotonic()
        seen = self._read.get(connection)
        if seen is not None and now < seen[0]:
            return seen[1]
        try:
            refuses = self._breakers.view(connection).refuses(self._clock())
        except Exception:  # noqa: BLE001 - a store outage must not take the tiles down; calls still meet the breaker
            log.warning("breaker state unreadable", extra={"connection": connection}, exc_info=True)
            refuses = seen[1] if seen is not None else False
        with self._lock:
            self._read[connection] = (now + self._ttl, refuses)
        return refuses

    def heard(self, connection: str, state: str) -> None:
        """A breaker of this process opened or closed: the next reading is fresh (Breakers' on_change)."""
        with self._lock:
            self._read.pop(connection, None)
