"""Every call to a channel is timed and logged the same way, without personal data."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from errors import DomainError
from errors import UpstreamUnavailable
from text_rules import refused_characters

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


def answer_fields(channel: str, operation: str, answer: object, *required: str) -> dict[str, Any]:
    """The channel's answer as a mapping that holds the fields we need and clean text, or UpstreamUnavailable."""
    # Identifiers and tokens in an answer are stored or sent on: one carrying a control character is
    # as unreadable as a missing one.
    if (
        isinstance(answer, dict)
        and all(answer.get(name) for name in required)
        and not any(isinstance(value, str) and refused_characters(value) for value in answer.values())
    ):
        return answer
    raise unreadable_answer(channel, operation, answer)


def unreadable_answer(channel: str, operation: str, answer: object) -> UpstreamUnavailable:
    """Log that a channel answered in a shape we cannot use, and the error to raise for it."""
    # Only the shape is logged: the answer may carry personal data.
    log.warning(
        "unreadable channel answer", extra={"channel": channel, "operation": operation, "shape": type(answer).__name__}
    )
    return UpstreamUnavailable("channel.unavailable", "The channel gave an answer we could not read.", retry_after=30)
