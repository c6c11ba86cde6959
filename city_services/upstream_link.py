"""What an upstream adapter is built with: its connection's name, call limits, the way out and its secrets."""

from __future__ import annotations

import logging
from collections.abc import Callable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TypeVar

from errors import UpstreamUnavailable
from outbound.calls import Outbound
from outbound.policy import CallPolicy

T = TypeVar("T")
log = logging.getLogger("citytiles.upstreams")


def connection_key(city: str, service: str) -> str:
    """The name breakers, bulkheads and health figures know one city × service's connection by."""
    return f"upstream.{city}.{service}"


@dataclass(frozen=True)
class UpstreamLink:
    """One connection's way out: every call an adapter makes goes through `call`."""

    connection: str
    policy: CallPolicy
    outbound: Outbound
    environ: Mapping[str, str]

    def call(self, operation: str, attempt: Callable[[], T], *, safe: bool) -> T:
        """Run one upstream call under the connection's breaker, bulkhead, timeout and (when safe) retries."""
        return self.outbound.call(self.connection, operation, self.policy, attempt, safe=safe)

    def secret(self, variable: str) -> str:
        """A credential from the environment; a missing one makes the service unavailable, not a 500."""
        value = self.environ.get(variable, "").strip()
        if not value:
            # Production refuses to start without it; in development the service simply does not work.
            log.error("upstream credential missing", extra={"connection": self.connection, "variable": variable})
            raise UpstreamUnavailable("upstream.unavailable", "The service is not configured; please try later.")
        return value
