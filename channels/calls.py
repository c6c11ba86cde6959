"""Every call to a channel goes through outbound/, and an answer we cannot use is named here, once."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any
from typing import TypeVar

from errors import UpstreamUnavailable
from outbound.calls import Outbound
from outbound.policy import CallPolicy
from text_rules import refused_characters

T = TypeVar("T")
log = logging.getLogger("citytiles.channels")
security_log = logging.getLogger("citytiles.security")
PAYMENT_UNAVAILABLE = "billing.channel_unavailable"


class ChannelCalls:
    """Calls to one channel's apps, each app a connection of its own (its own breaker and bulkhead)."""

    def __init__(self, outbound: Outbound, channel: str, timeout_seconds: float) -> None:
        self.outbound = outbound
        self.channel = channel
        # Login codes are single-use and a lost answer may have spent one: nothing here is retried.
        self.policy = CallPolicy(timeout_seconds=timeout_seconds, read_retries=0)

    def call(self, app_id: str, operation: str, attempt: Callable[[], T]) -> T:
        """Make one call to an app's API under its connection's limits."""
        return self.outbound.call(
            f"channel.{self.channel}.{app_id}",
            operation,
            self.policy,
            attempt,
            unavailable_code="channel.unavailable",
        )


class PaymentCalls:
    """Calls to one merchant's payment API, the merchant a connection of its own (its own breaker and bulkhead).

    Reads may be tried again; writes never: a lost answer may have acted at the channel, and the
    same order or refund number is safe to send again later, which the billing sweeps do.
    """

    def __init__(self, outbound: Outbound, connection: str, timeout_seconds: float) -> None:
        self.outbound = outbound
        self.connection = connection
        self.policy = CallPolicy(timeout_seconds=timeout_seconds, read_retries=1)

    def read(self, operation: str, attempt: Callable[[], T]) -> T:
        """A call that changes nothing at the channel: tried once more if the first try gets no answer."""
        return self.outbound.call(
            self.connection, operation, self.policy, attempt, safe=True, unavailable_code=PAYMENT_UNAVAILABLE
        )

    def write(self, operation: str, attempt: Callable[[], T]) -> T:
        """A call that may act at the channel: made once."""
        return self.outbound.call(
            self.connection, operation, self.policy, attempt, unavailable_code=PAYMENT_UNAVAILABLE
        )


def payment_unavailable(message: str = "The payment channel cannot be reached right now.") -> UpstreamUnavailable:
    """The error for a payment channel that gave no usable answer (the same call may succeed later)."""
    return UpstreamUnavailable(PAYMENT_UNAVAILABLE, message, retry_after=30)


def answer_fields(
    channel: str, operation: str, answer: object, *required: str, code: str = "channel.unavailable"
) -> dict[str, Any]:
    """The channel's answer as a mapping that holds the fields we need and clean text, or UpstreamUnavailable."""
    # Identifiers and tokens in an answer are stored or sent on: one carrying a control character is
    # as unreadable as a missing one.
    if (
        isinstance(answer, dict)
        and all(answer.get(name) for name in required)
        and not any(isinstance(value, str) and refused_characters(value) for value in answer.values())
    ):
        return answer
    raise unreadable_answer(channel, operation, answer, code)


def unreadable_answer(
    channel: str, operation: str, answer: object, code: str = "channel.unavailable"
) -> UpstreamUnavailable:
    """Log that a channel answered in a shape we cannot use, and the error to raise for it."""
    # Only the shape is logged: the answer may carry personal data.
    log.warning(
        "unreadable channel answer", extra={"channel": channel, "operation": operation, "shape": type(answer).__name__}
    )
    return UpstreamUnavailable(code, "The channel gave an answer we could not read.", retry_after=30)
