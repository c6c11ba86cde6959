"""Recent calls in Redis, so the figures cover every worker's calls."""

from __future__ import annotations

import redis

from outbound.health import MAX_SAMPLES
from outbound.health import WINDOW_SECONDS
from outbound.health import CallRecord


class RedisCallLog:
    """One capped list per connection; entries older than the window are dropped when read."""

    def __init__(self, client: redis.Redis, prefix: str = "citytiles:calls:") -> None:
        self.client = client
        self.prefix = prefix

    @classmethod
    def from_url(cls, url: str) -> RedisCallLog:
        """A log on the Redis at url."""
        return cls(redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2))

    def record(self, connection: str, call: CallRecord) -> None:
        """Keep one finished call."""
        key = self.prefix + connection
        with self.client.pipeline(transaction=False) as pipe:
            pipe.lpush(key, f"{call.at!r} {call.duration_ms!r} {call.outcome}")
            pipe.ltrim(key, 0, MAX_SAMPLES - 1)
            pipe.expire(key, WINDOW_SECONDS * 2)
            pipe.execute()

    def recent(self, connection: str, since: float) -> list[CallRecord]:
        """The connection's calls since a moment, oldest first."""
        calls = []
        for raw in self.client.lrange(self.prefix + connection, 0, MAX_SAMPLES - 1):
            at, duration, outcome = (raw.decode() if isinstance(raw, bytes) else raw).split(" ", 2)
            if float(at) < since:
                break
            calls.append(CallRecord(float(at), float(duration), outcome))
        calls.reverse()
        return calls
