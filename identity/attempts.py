"""Abuse limits: attempts counted in a window, shared by every worker (the port; adapters elsewhere).

Keys are stored only as keyed digests: usernames are sometimes mistyped passwords, and a counter
store must not become a list of them.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import math
from dataclasses import dataclass
from dataclasses import field
from datetime import datetime
from datetime import timedelta
from typing import Protocol

from errors import TooManyRequests
from errors import UpstreamUnavailable


@dataclass(frozen=True)
class AttemptKey:
    """What attempts are counted against: a limit's name, what it protects, and where attempts come from.

    :param source: the address the attempts come from; empty when the limit is on the subject alone.
    """

    limit: str
    subject: str = field(repr=False)
    source: str = ""


@dataclass(frozen=True)
class Tally:
    """Attempts counted in the current window, and when that window ends."""

    count: int
    window_ends_at: datetime

    def exceeds(self, limit: int) -> bool:
        """Whether this attempt is past the limit."""
        return self.count > limit

    def retry_after(self, now: datetime) -> int:
        """Whole seconds until the window ends, at least one."""
        return max(1, math.ceil((self.window_ends_at - now).total_seconds()))


class AttemptCounter(Protocol):
    """Counts attempts per key in fixed windows; every operation is atomic across workers."""

    name: str

    def count(self, key: AttemptKey, *, window: timedelta, now: datetime) -> Tally:
        """Count one attempt and return the window's tally; a window that has ended starts again at one."""

    def forgive(self, key: AttemptKey, *, now: datetime) -> None:
        """Take back one attempt of the current window (it turned out to be legitimate)."""

    def clear(self, limit: str, subject: str, source: str | None = None) -> None:
        """Forget the attempts on a subject from one source, or from every source when source is None."""


class CounterUnavailable(UpstreamUnavailable):
    """The store the counters live in cannot be reached: refuse rather than let attempts through uncounted."""


def spend_attempt(
    attempts: AttemptCounter, key: AttemptKey, *, limit: int, window: timedelta, now: datetime, code: str, what: str
) -> Tally:
    """Count one attempt against an allowance; TooManyRequests with Retry-After once it is spent."""
    tally = attempts.count(key, window=window, now=now)
    if tally.exceeds(limit):
        raise TooManyRequests(code, f"At most {limit} {what}; try again later.", retry_after=tally.retry_after(now))
    return tally


def key_digest(secret: bytes, *parts: str) -> str:
    """A keyed SHA-256 of the parts, hex: fixed length, and no way back to a username."""
    message = "\x1f".join(parts).encode()
    return hmac.new(secret, message, hashlib.sha256).hexdigest()


def counter_secret(secret_key: str) -> bytes:
    """The key counters hash with, derived from the application secret so it needs no setting of its own."""
    return hmac.new(secret_key.encode(), b"citytiles attempt counters", hashlib.sha256).digest()


def source_of(address: str | None) -> str:
    """The source attempts are counted against: an IPv4 address, or an IPv6 /64 (what one client holds)."""
    try:
        parsed = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return address or "unknown"
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
