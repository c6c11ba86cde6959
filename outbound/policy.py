"""How one upstream connection may be called: the limits every call to it runs under."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class CallPolicy:
    """The limits of one connection; adapters build it from their connection's parameters."""

    # Seconds to wait for an answer before the call counts as failed (connect and read each).
    timeout_seconds: float = 5.0
    # Calls in flight at once from one process; more wait briefly, then fail fast.
    max_concurrent_calls: int = 8
    # Consecutive failures that open the breaker, and how long it stays open before one trial call.
    failure_threshold: int = 5
    reset_seconds: float = 30.0
    # Extra attempts for safe reads only (never for writes).
    read_retries: int = 1
