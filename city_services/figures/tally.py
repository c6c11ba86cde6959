"""Counting tile visits and service calls in this process's memory, and adding them to the hourly table now and then.

The hot path only adds to a dict under a lock: no database write per request. A background thread,
started with the first count, writes what has gathered every `flush_seconds` (sooner after
`flush_events` counts) and at exit. A crash loses the counts since the last flush, a few seconds'
worth: these are operators' figures, not money, and that is the price of a free hot path.
"""

from __future__ import annotations

import atexit
import bisect
import logging
import threading
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from city_services.figures.models import ALL_SERVICES
from city_services.figures.models import COUNTERS
from city_services.figures.models import LATENCY_BOUNDS_MS
from city_services.figures.models import HourlyFigure
from database import transaction
from database.transaction import insert_or_skip

log = logging.getLogger("citytiles.figures")
Key = tuple[datetime, str, str, str]
VISITS, REQUESTS, SUCCEEDED, FIRST_BUCKET = 0, 1, 2, 3


def on_the_hour(moment: datetime) -> datetime:
    """The start of the hour a moment falls in."""
    return moment.replace(minute=0, second=0, microsecond=0)


def latency_bucket(elapsed_ms: float) -> int:
    """The index of the latency bucket a duration falls in: the first whose upper bound it does not exceed."""
    return bisect.bisect_left(LATENCY_BOUNDS_MS, elapsed_ms)


class Tally:
    """Counts gathered in memory since the last flush, per hour × city × service × channel; thread-safe."""

    def __init__(
        self, sessions: sessionmaker[Session], *, flush_seconds: float = 10.0, flush_events: int = 10_000
    ) -> None:
        self.sessions = sessions
        self.flush_seconds = flush_seconds
        self.flush_events = flush_events
        self.counts: dict[Key, list[int]] = {}
        self.events = 0
        self.lock = threading.Lock()
        # Flushes one at a time, so a flush that fails can put its counts back before the next one reads them.
        self.flushing = threading.Lock()
        self.starting = threading.Lock()
        self.due = threading.Event()
        self.closed = False
        self.flusher: threading.Thread | None = None

    def count_visit(self, city: str, channel: str, now: datetime) -> None:
        """One view of a city's tile list on a channel."""
        key = (on_the_hour(now), city, ALL_SERVICES, channel)
        with self.lock:
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = [0] * len(COUNTERS)
            counts[VISITS] += 1
            self.events += 1
            events = self.events
        self._keep_flushing(events)

    def count_request(
        self, city: str, service: str, channel: str, now: datetime, elapsed_ms: float, succeeded: bool
    ) -> None:
        """One call of a city's service, how long it took and whether it succeeded."""
        key = (on_the_hour(now), city, service, channel)
        bucket = FIRST_BUCKET + latency_bucket(elapsed_ms)
        with self.lock:
            counts = self.counts.get(key)
            if counts is None:
                counts = self.counts[key] = [0] * len(COUNTERS)
            counts[REQUESTS] += 1
            counts[SUCCEEDED] += succeeded
            counts[bucket] += 1
            self.events += 1
            events = self.events
        self._keep_flushing(events)

    def flush(self) -> int:
        """Add what has gathered to the hourly table, one upsert per row; returns the rows written."""
        with self.flushing:
            with self.lock:
                taken, self.counts, self.events = self.counts, {}, 0
            if not taken:
                return 0
            try:
                with self.sessions() as session, transaction(session):
                    for key, counts in taken.items():
                        session.execute(_added(session, key, counts))
            except SQLAlchemyError as error:
                # The database is away: keep the counts for the next flush rather than drop them.
                log.warning("figures not flushed, kept for the next try: %s", type(error).__name__)
                self._put_back(taken)
                return 0
            return len(taken)

    def close(self) -> None:
        """Stop the background flusher when the app's database goes away; counts not flushed yet go with it."""
        self.closed = True
        self.due.set()
        atexit.unregister(self.flush)
        if self.flusher is not None and self.flusher is not threading.current_thread():
            self.flusher.join(timeout=5)

    def _keep_flushing(self, events: int) -> None:
        """Start the flusher with the first count (never at import, and again after a fork); wake it when due."""
        if (self.flusher is None or not self.flusher.is_alive()) and not self.closed:
            self._start_flusher()
        if events >= self.flush_events:
            self.due.set()

    def _start_flusher(self) -> None:
        with self.starting:
            if self.closed or (self.flusher is not None and self.flusher.is_alive()):
                return
            self.flusher = threading.Thread(target=self._flush_now_and_then, name="citytiles-figures", daemon=True)
            self.flusher.start()
            atexit.register(self.flush)

    def _flush_now_and_then(self) -> None:
        while not self.closed:
            self.due.wait(self.flush_seconds)
            self.due.clear()
            if not self.closed:
                self.flush()

    def _put_back(self, taken: dict[Key, list[int]]) -> None:
        with self.lock:
            for key, counts in taken.items():
                kept = self.counts.setdefault(key, [0] * len(COUNTERS))
                for index, count in enumerate(counts):
                    kept[index] += count


def _added(session: Session, key: Key, counts: list[int]) -> Any:
    """INSERT the row, or add its counts to the row already there."""
    hour, city, service, channel = key
    row = dict(zip(COUNTERS, counts, strict=True))
    statement = insert_or_skip(session)(HourlyFigure).values(
        hour=hour, city_code=city, service_code=service, channel=channel, **row
    )
    return statement.on_conflict_do_update(
        index_elements=["hour", "city_code", "service_code", "channel"],
        set_={name: getattr(HourlyFigure, name) + statement.excluded[name] for name in COUNTERS},
    )
