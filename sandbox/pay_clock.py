"""The payment channels' clock: what they do later, on their own (send notifications again, settle refunds).

One thread waits for the next job that is due and hands it to a few workers, so a notification to a
slow or dead citytiles never holds up another, and no request that arranged a job waits for it. The
thread starts with the first job, not before; stop() ends it and drops what is still waiting.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

_log = logging.getLogger(__name__)
Job = Callable[[], object]  # what a job returns is ignored


class PayClock:
    """Jobs run once each, in due order, after their delay."""

    def __init__(self, workers: int = 4) -> None:
        self._workers = workers
        self._due: list[tuple[float, int, Job]] = []
        self._sequence = itertools.count()  # keeps jobs due at the same moment in the order they came
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pool: ThreadPoolExecutor | None = None
        self._stopped = False

    def later(self, delay_seconds: float, job: Job) -> None:
        """Run job once, delay_seconds from now (on a worker thread)."""
        with self._wake:
            if self._stopped:
                return
            heapq.heappush(self._due, (time.monotonic() + max(delay_seconds, 0.0), next(self._sequence), job))
            if self._thread is None:
                self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="sandbox-pay")
                self._thread = threading.Thread(target=self._run, name="sandbox-pay-clock", daemon=True)
                self._thread.start()
            self._wake.notify()

    def stop(self) -> None:
        """Drop every waiting job and end the thread; jobs already running finish on their own."""
        with self._wake:
            self._stopped = True
            self._due.clear()
            self._wake.notify()
            thread, pool = self._thread, self._pool
        if thread is not None:
            thread.join(timeout=5)
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopped and (not self._due or self._due[0][0] > time.monotonic()):
                    self._wake.wait(None if not self._due else self._due[0][0] - time.monotonic())
                if self._stopped:
                    return
                _, _, job = heapq.heappop(self._due)
                pool = self._pool
            try:
                if pool is not None:
                    pool.submit(_run_guarded, job)
            except RuntimeError:  # stopped between taking the job and handing it over
                return


def _run_guarded(job: Job) -> None:
    # A failing job must not take the workers down with it; the sandbox keeps serving.
    try:
        job()
    except Exception:
        _log.exception("a payment clock job failed")
