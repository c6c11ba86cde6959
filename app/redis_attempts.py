"""Attempt counters in Redis: the AttemptCounter every worker shares when REDIS_URL is set."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta
from typing import Any

import redis

from identity.attempts import AttemptKey
from identity.attempts import CounterUnavailable
from identity.attempts import Tally
from identity.attempts import key_digest

# One script, so reading the window, counting and setting the expiry happen as one step.
# Windows follow the caller's clock (ARGV[1]); the key's own expiry only bounds storage.
_COUNT = """
local now = tonumber(ARGV[1])
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends'))
local attempts
if ends == nil or ends <= now then
    ends = now + tonumber(ARGV[2])
    attempts = 1
    redis.call('HSET', KEYS[1], 'attempts', 1, 'ends', ends)
else
    attempts = redis.call('HINCRBY', KEYS[1], 'attempts', 1)
end
redis.call('PEXPIRE', KEYS[1], ends - now)
return {attempts, ends}
"""
_FORGIVE = """
local ends = tonumber(redis.call('HGET', KEYS[1], 'ends'))
if ends ~= nil and ends > tonumber(ARGV[1]) and tonumber(redis.call('HGET', KEYS[1], 'attempts')) > 0 then
    redis.call('HINCRBY', KEYS[1], 'attempts', -1)
end
return 0
"""


class RedisAttempts:
    """Counters as Redis hashes `<prefix>:<subject digest>:<key digest>`, expiring with their window."""

    name = "redis"

    def __init__(self, client: redis.Redis, secret: bytes, prefix: str = "citytiles:attempts") -> None:
        self.client = client
        self.secret = secret
        self.prefix = prefix
        self._count = client.register_script(_COUNT)
        self._forgive = client.register_script(_FORGIVE)

    @classmethod
    def from_url(cls, url: str, secret: bytes) -> RedisAttempts:
        """Counters on the Redis the URL names, with short timeouts: a login must not hang on them."""
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2), secret)

    def count(self, key: AttemptKey, *, window: timedelta, now: datetime) -> Tally:
        """Count one attempt atomically (one Lua script)."""
        window_ms = max(1, int(window.total_seconds() * 1000))
        attempts, ends = self._run(self._count, key, _ms(now), window_ms)
        return Tally(int(attempts), datetime.fromtimestamp(int(ends) / 1000, UTC))

    def forgive(self, key: AttemptKey, *, now: datetime) -> None:
        """Take back one attempt of a window still running."""
        self._run(self._forgive, key, _ms(now))

    def clear(self, limit: str, subject: str, source: str | None = None) -> None:
        """Delete the subject's counter for one source, or for every source (a SCAN: an operator's command)."""
        try:
            if source is not None:
                self.client.delete(self._name(AttemptKey(limit, subject, source)))
                return
            pattern = f"{self.prefix}:{key_digest(self.secret, limit, subject)}:*"
            names = list(self.client.scan_iter(match=pattern, count=1000))
            if names:
                self.client.delete(*names)
        except redis.RedisError as error:
            raise _unavailable() from error

    def _run(self, script: Any, key: AttemptKey, *args: int) -> Any:
        try:
            return script(keys=[self._name(key)], args=list(args))
        except redis.RedisError as error:
            raise _unavailable() from error

    def _name(self, key: AttemptKey) -> str:
        subject = key_digest(self.secret, key.limit, key.subject)
        return f"{self.prefix}:{subject}:{key_digest(self.secret, key.limit, key.subject, key.source)}"


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _unavailable() -> CounterUnavailable:
    return CounterUnavailable("limits.unavailable", "Attempt limits cannot be checked right now.", retry_after=5)
