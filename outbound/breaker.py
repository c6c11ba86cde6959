"""Circuit breakers, one per upstream connection, whose state lives in a store every worker can share.

A breaker opens after `failure_threshold` failures in a row and then refuses calls at once for
`reset_seconds`; after that exactly one caller at a time is let through as a trial, and its
success closes the breaker. The store makes each step atomic, so two workers (or two threads)
never both take the trial or both miss a failure.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger("citytiles.outbound")
CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"
CALL, TRIAL, REFUSE = "call", "trial", "refuse"
RESET_SECONDS = 30.0


@dataclass(frozen=True)
class Admission:
    """Whether a call may go ahead: a normal call, the one trial call, or refused for retry_after seconds."""

    verdict: str
    retry_after: float = 0.0


@dataclass(frozen=True)
class BreakerView:
    """A breaker's state as operators and tiles see it."""

    state: str
    failures: int
    opened_at: float | None
    # Until when calls are refused at once: the end of the open spell, or of the trial under way.
    refusing_until: float | None = None

    def refuses(self, now: float) -> bool:
        """Whether a call now would be refused without being tried (a tile shows degraded)."""
        return self.state != CLOSED and self.refusing_until is not None and now < self.refusing_until


class BreakerStore(Protocol):
    """Where breaker states live; every method is one atomic step."""

    def admit(self, key: str, now: float, reset_seconds: float, trial_seconds: float) -> Admission:
        """Let a call through, make it the trial (claiming the trial until now + trial_seconds), or refuse it."""

    def succeed(self, key: str) -> bool:
        """Record a success: the breaker closes and its failures reset; True when it was not closed before."""

    def fail(self, key: str, now: float, threshold: int, reset_seconds: float = RESET_SECONDS) -> bool:
        """Record a failure (opening for reset_seconds at the threshold): True when it opened a closed breaker."""

    def view(self, key: str) -> BreakerView:
        """The breaker's current state."""


@dataclass
class _Entry:
    state: str = CLOSED
    failures: int = 0
    opened_at: float = 0.0
    trial_until: float = 0.0
    reset_seconds: float = 0.0


class MemoryBreakerStore:
    """Breakers in this process's memory: for one process, and the fake the contract suite keeps honest."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}
        self._lock = threading.Lock()

    def admit(self, key: str, now: float, reset_seconds: float, trial_seconds: float) -> Admission:
        """Let a call through, make it the trial, or refuse it."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.state == CLOSED:
                return Admission(CALL)
            free_at = entry.opened_at + reset_seconds if entry.state == OPEN else entry.trial_until
            if now < free_at:
                return Admission(REFUSE, free_at - now)
            entry.state, entry.trial_until = HALF_OPEN, now + trial_seconds
            return Admission(TRIAL)

    def succeed(self, key: str) -> bool:
        """Close the breaker; True when it was not closed."""
        with self._lock:
            entry = self._entries.pop(key, None)
            return entry is not None and entry.state != CLOSED

    def fail(self, key: str, now: float, threshold: int, reset_seconds: float = RESET_SECONDS) -> bool:
        """Count a failure; True when it opened a closed breaker."""
        with self._lock:
            entry = self._entries.setdefault(key, _Entry())
            if entry.state == HALF_OPEN:
                entry.state, entry.opened_at, entry.reset_seconds = OPEN, now, reset_seconds
                return False
            entry.failures += 1
            if entry.state == CLOSED and entry.failures >= threshold:
                entry.state, entry.opened_at, entry.reset_seconds = OPEN, now, reset_seconds
                return True
            return False

    def view(self, key: str) -> BreakerView:
        """The breaker's current state."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is None or entry.state == CLOSED:
                return BreakerView(CLOSED, 0 if entry is None else entry.failures, None)
            until = entry.opened_at + entry.reset_seconds if entry.state == OPEN else entry.trial_until
            return BreakerView(entry.state, entry.failures, entry.opened_at, until)


class Breakers:
    """The breakers of every connection, over one store; tells a listener when one opens or closes."""

    def __init__(
        self,
        store: BreakerStore,
        *,
        on_change: Callable[[str, str], None] | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.on_change = on_change
        self.clock = clock

    def admit(self, connection: str, reset_seconds: float, trial_seconds: float) -> Admission:
        """Whether a call to the connection may go ahead now; yes when the store cannot say."""
        try:
            return self.store.admit(connection, self.clock(), reset_seconds, trial_seconds)
        except Exception:  # noqa: BLE001 - the store (Redis) being down must not stop calls to a working upstream
            log.warning("breaker store unreadable; calling anyway", extra={"connection": connection}, exc_info=True)
            return Admission(CALL)

    def succeeded(self, connection: str) -> None:
        """Record a good answer (an upstream's final refusal is one too); never raises once the upstream answered."""
        try:
            closed = self.store.succeed(connection)
        except Exception:  # noqa: BLE001 - the call worked: losing one count must not turn it into a failure
            log.warning("breaker store unwritable", extra={"connection": connection}, exc_info=True)
            return
        if closed:
            self._tell(connection, CLOSED)

    def failed(self, connection: str, threshold: int, reset_seconds: float = RESET_SECONDS) -> None:
        """Record a failure to get a usable answer; the caller's error, not the store's, is what it sees."""
        try:
            opened = self.store.fail(connection, self.clock(), threshold, reset_seconds)
        except Exception:  # noqa: BLE001 - see succeeded
            log.warning("breaker store unwritable", extra={"connection": connection}, exc_info=True)
            return
        if opened:
            self._tell(connection, OPEN)

    def view(self, connection: str) -> BreakerView:
        """The connection's breaker now."""
        return self.store.view(connection)

    def _tell(self, connection: str, state: str) -> None:
        if self.on_change is not None:
            self.on_change(connection, state)
