"""Each connection's recent calls, for the figures operators see: success rate, latency, last error."""

from __future__ import annotations

import math
import threading
from collections import deque
from dataclasses import dataclass
from typing import Protocol

# Figures cover this much of the past.
WINDOW_SECONDS = 3600
# At most this many calls per connection are kept for the figures (the most recent ones).
MAX_SAMPLES = 20_000


@dataclass(frozen=True)
class CallRecord:
    """One finished call: when, how long, and its outcome ("ok" or an error code)."""

    at: float
    duration_ms: float
    outcome: str

    @property
    def failed(self) -> bool:
        """Whether the call got no usable answer."""
        return self.outcome != "ok"


@dataclass(frozen=True)
class HealthFigures:
    """A connection's calls over the last hour."""

    calls: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    last_error: str | None
    last_error_at: float | None


class CallLog(Protocol):
    """Where finished calls are kept for the figures."""

    def record(self, connection: str, call: CallRecord) -> None:
        """Keep one finished call."""

    def recent(self, connection: str, since: float) -> list[CallRecord]:
        """The connection's calls since a moment, oldest first."""


class MemoryCallLog:
    """Calls in this process's memory."""

    def __init__(self) -> None:
        self._calls: dict[str, deque[CallRecord]] = {}
        self._lock = threading.Lock()

    def record(self, connection: str, call: CallRecord) -> None:
        """Keep one finished call."""
        with self._lock:
            self._calls.setdefault(connection, deque(maxlen=MAX_SAMPLES)).append(call)

    def recent(self, connection: str, since: float) -> list[CallRecord]:
        """The connection's calls since a moment, oldest first."""
        with self._lock:
            return [call for call in self._calls.get(connection, ()) if call.at >= since]


def figures_of(calls: list[CallRecord]) -> HealthFigures:
    """Success rate, median and 95th-percentile latency, and the last error of some calls."""
    if not calls:
        return HealthFigures(0, None, None, None, None, None)
    durations = sorted(call.duration_ms for call in calls)
    failures = [call for call in calls if call.failed]
    last = max(failures, key=lambda call: call.at) if failures else None
    return HealthFigures(
        calls=len(calls),
        success_rate=round(1 - len(failures) / len(calls), 4),
        p50_ms=_percentile(durations, 0.50),
        p95_ms=_percentile(durations, 0.95),
        last_error=last.outcome if last else None,
        last_error_at=last.at if last else None,
    )


def _percentile(ordered: list[float], share: float) -> float:
    """The nearest-rank percentile of sorted values."""
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]
