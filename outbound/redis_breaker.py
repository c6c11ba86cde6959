"""Breakers in Redis, so every worker process on every machine sees one state per connection."""

from __future__ import annotations

from typing import Any

import redis

from outbound.breaker import CLOSED
from outbound.breaker import OPEN
from outbound.breaker import RESET_SECONDS
from outbound.breaker import Admission
from outbound.breaker import BreakerView

# Each script is one atomic step on the breaker's hash: state, failures, opened_at, reset, trial_until.
_ADMIT = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state or state == 'closed' then return {'call', '0'} end
local now, reset, trial = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local free_at
if state == 'open' then
  free_at = tonumber(redis.call('HGET', KEYS[1], 'opened_at')) + reset
else
  free_at = tonumber(redis.call('HGET', KEYS[1], 'trial_until'))
end
if now < free_at then return {'refuse', tostring(free_at - now)} end
redis.call('HSET', KEYS[1], 'state', 'half_open', 'trial_until', tostring(now + trial))
return {'trial', '0'}
"""
_SUCCEED = """
local state = redis.call('HGET', KEYS[1], 'state')
if not state then return 0 end
redis.call('DEL', KEYS[1])
if state == 'closed' then return 0 end
return 1
"""
_FAIL = """
local state = redis.call('HGET', KEYS[1], 'state') or 'closed'
if state == 'half_open' then
  redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'reset', ARGV[3])
  return 0
end
local failures = redis.call('HINCRBY', KEYS[1], 'failures', 1)
if state == 'closed' then
  if failures >= tonumber(ARGV[2]) then
    redis.call('HSET', KEYS[1], 'state', 'open', 'opened_at', ARGV[1], 'reset', ARGV[3])
    return 1
  end
  redis.call('HSET', KEYS[1], 'state', 'closed')
end
return 0
"""


class RedisBreakerStore:
    """Breaker states as Redis hashes, changed only by Lua scripts (one atomic step each)."""

    def __init__(self, client: redis.Redis, prefix: str = "citytiles:breaker:") -> None:
        self.client = client
        self.prefix = prefix
        self._admit = client.register_script(_ADMIT)
        self._succeed = client.register_script(_SUCCEED)
        self._fail = client.register_script(_FAIL)

    @classmethod
    def from_url(cls, url: str) -> RedisBreakerStore:
        """A store on the Redis at url."""
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    def admit(self, key: str, now: float, reset_seconds: float, trial_seconds: float) -> Admission:
        """Let a call through, make it the trial, or refuse it."""
        verdict, retry_after = self._admit(keys=[self.prefix + key], args=[repr(now), reset_seconds, trial_seconds])
        return Admission(_text(verdict), float(_text(retry_after)))

    def succeed(self, key: str) -> bool:
        """Close the breaker; True when it was not closed."""
        return bool(self._succeed(keys=[self.prefix + key]))

    def fail(self, key: str, now: float, threshold: int, reset_seconds: float = RESET_SECONDS) -> bool:
        """Count a failure; True when it opened a closed breaker."""
        return bool(self._fail(keys=[self.prefix + key], args=[repr(now), threshold, repr(float(reset_seconds))]))

    def view(self, key: str) -> BreakerView:
        """The breaker's current state."""
        fields = {_text(k): _text(v) for k, v in self.client.hgetall(self.prefix + key).items()}
        state = fields.get("state", CLOSED)
        failures = int(fields.get("failures", "0"))
        if state == CLOSED:
            return BreakerView(CLOSED, failures, None)
        opened_at = float(fields["opened_at"])
        if state == OPEN:
            until = opened_at + float(fields.get("reset", "0"))
        else:
            until = float(fields["trial_until"])
        return BreakerView(state, failures, opened_at, until)


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
