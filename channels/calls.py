"""Every call to a channel is timed and logged the same way, without personal data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager

from errors import DomainError

log = logging.getLogger("citytiles.channels")
security_log = logging.getLogger("citytiles.security")


@contextmanager
def channel_call(channel: str, operation: str, app_id: str) -> Iterator[None]:
    """Log the outcome and duration of one channel call; the caller maps errors to ours."""
    started = time.perf_counter()
    outcome = "ok"
    try:
        yield
    except DomainError as error:
        outcome = error.code
        raise
    except Exception as error:
        outcome = type(error).__name__
        raise
    finally:
        log.info(
            "channel call",
            extra={
                "channel": channel,
                "operation": operation,
                "app_id": app_id,
                "outcome": outcome,
                "duration_ms": round((time.perf_counter() - started) * 1000, 1),
            },
        )
