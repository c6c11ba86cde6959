"""Per-minute call quotas, the way WeChat counts them (45011 past the limit)."""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from dataclasses import field


@dataclass
class MinuteQuota:
    """At most `limit` calls per key in any sliding 60-second window."""

    limit: int
    _calls: dict[str, deque[float]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def spend(self, key: str) -> bool:
        """Count one call for key; False when the key is over its quota (the call is refused)."""
        now = time.time()
        with self._lock:
            calls = self._calls.setdefault(key, deque())
            while calls and calls[0] <= now - 60:
                calls.popleft()
            if len(calls) >= self.limit:
                return False
            calls.append(now)
            return True
