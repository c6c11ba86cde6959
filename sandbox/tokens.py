"""WeChat's app access tokens: /cgi-bin/token and /cgi-bin/stable_token, with WeChat's rotation rules.

* /cgi-bin/token issues a new token on every call; the previous one keeps working for the grace
  period and then answers 40001 ("not latest").
* /cgi-bin/stable_token returns the current token while it is valid. It pre-rotates shortly before
  expiry and force_refresh rotates at once; the replaced token also gets the grace period.
* The two families are isolated: rotating one never touches the other.
* A token past its natural lifetime answers 42001.
"""

from __future__ import annotations

import secrets
import threading
import time
from dataclasses import dataclass
from dataclasses import field

CLASSIC = "classic"
STABLE = "stable"

VALID = "valid"
EXPIRED = "expired"  # errcode 42001
INVALID = "invalid"  # errcode 40001: unknown, or replaced and past its grace period


@dataclass
class _Token:
    app_id: str
    family: str
    expires_at: float
    revoked_at: float | None = None


@dataclass
class TokenStats:
    """How often an app asked for a token, per endpoint."""

    token_calls: int = 0
    stable_token_calls: int = 0


@dataclass
class AccessTokens:
    """Issues and checks app access tokens for every WeChat app."""

    ttl_seconds: int
    grace_seconds: int
    _tokens: dict[str, _Token] = field(default_factory=dict)
    _latest: dict[tuple[str, str], str] = field(default_factory=dict)
    _stats: dict[str, TokenStats] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def issue_classic(self, app_id: str) -> tuple[str, int]:
        """A fresh token from /cgi-bin/token; the previous classic token enters its grace period."""
        with self._lock:
            self._stats.setdefault(app_id, TokenStats()).token_calls += 1
            return self._rotate(app_id, CLASSIC, time.time()), self.ttl_seconds

    def issue_stable(self, app_id: str, force_refresh: bool) -> tuple[str, int]:
        """The current stable token, rotated only near expiry or on force_refresh."""
        now = time.time()
        with self._lock:
            self._stats.setdefault(app_id, TokenStats()).stable_token_calls += 1
            current = self._latest.get((app_id, STABLE))
            record = self._tokens.get(current) if current else None
            # WeChat pre-rotates 5 minutes before expiry; with short test lifetimes the window is
            # capped at half the lifetime so the token is still returned unchanged for a while.
            prerotate = min(self.grace_seconds, self.ttl_seconds / 2)
            if record and not force_refresh and record.expires_at - now > prerotate and record.revoked_at is None:
                return current, int(record.expires_at - now)  # type: ignore[return-value]
            return self._rotate(app_id, STABLE, now), self.ttl_seconds

    def check(self, token: str) -> tuple[str, str | None]:
        """(VALID|EXPIRED|INVALID, app_id) for a token presented to an API."""
        now = time.time()
        with self._lock:
            record = self._tokens.get(token)
            if record is None:
                return INVALID, None
            if record.revoked_at is not None and now >= record.revoked_at:
                return INVALID, record.app_id
            if now >= record.expires_at:
                return EXPIRED, record.app_id
            return VALID, record.app_id

    def expire_all(self, app_id: str) -> int:
        """End the natural life of every token of app_id now (a test helper); returns how many."""
        now = time.time()
        with self._lock:
            hit = [t for t in self._tokens.values() if t.app_id == app_id and t.expires_at > now]
            for record in hit:
                record.expires_at = now
            return len(hit)

    def stats(self, app_id: str) -> TokenStats:
        """Call counters for app_id."""
        with self._lock:
            found = self._stats.get(app_id, TokenStats())
            return TokenStats(found.token_calls, found.stable_token_calls)

    def reset_stats(self, app_id: str) -> None:
        """Zero the counters of app_id."""
        with self._lock:
            self._stats.pop(app_id, None)

    def _rotate(self, app_id: str, family: str, now: float) -> str:
        previous = self._latest.get((app_id, family))
        if previous and previous in self._tokens:
            old = self._tokens[previous]
            grace_end = now + self.grace_seconds
            old.revoked_at = grace_end if old.revoked_at is None else min(old.revoked_at, grace_end)
        token = _new_token()
        self._tokens[token] = _Token(app_id, family, now + self.ttl_seconds)
        self._latest[(app_id, family)] = token
        self._forget_dead(now)
        return token

    def _forget_dead(self, now: float) -> None:
        # Keep dead tokens for an hour so late callers still get 42001/40001 rather than nothing.
        horizon = now - 3600
        dead = [
            token
            for token, record in self._tokens.items()
            if min(record.expires_at, record.revoked_at or record.expires_at) < horizon
        ]
        for token in dead:
            del self._tokens[token]


def _new_token() -> str:
    # Real tokens are opaque strings of 100-170 URL-safe characters (WeChat says: reserve 512).
    return secrets.token_urlsafe(96)
