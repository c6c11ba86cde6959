"""Hospitals and departments change a few times a year: each adapter keeps them a few minutes; schedules never."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from collections.abc import Hashable
from typing import Any
from typing import TypeVar

T = TypeVar("T")
# Long enough that residents browsing do not each ask the platform, short enough for a new clinic to show.
SEARCH_SECONDS = 300.0
# Hospitals × departments of one platform: a bound, not an expectation.
MAX_ENTRIES = 512


class SearchCache:
    """Answers by key for a while; a failure is never kept. The adapter is rebuilt when its connection changes."""

    def __init__(self, seconds: float = SEARCH_SECONDS, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._kept: dict[Hashable, tuple[float, Any]] = {}

    def remember(self, key: Hashable, fetch: Callable[[], T]) -> T:
        """The kept answer while fresh, else fetch's (kept from now)."""
        now = self.clock()
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] > now:
            answer: T = kept[1]
            return answer
        fresh = fetch()
        with self._lock:
            if len(self._kept) >= MAX_ENTRIES:
                self._kept = {k: v for k, v in self._kept.items() if v[0] > now}
            if len(self._kept) < MAX_ENTRIES:
                self._kept[key] = (now + self.seconds, fresh)
        return fresh
