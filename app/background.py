"""Background work: outbox tasks carried out after their commit, on Celery when REDIS_URL is set, else in-process.

Either way the outbox table is the truth: a kick only says "there is work"; the sweep (Celery beat,
or `flask sweep`) carries out anything a lost kick left behind.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from config import Settings

log = logging.getLogger("citytiles.background")
CARRY_OUT_OUTBOX = "citytiles.carry_out_outbox"


class Tasks(Protocol):
    """Where the web tier says there is outbox work to carry out."""

    def kick(self) -> None:
        """Carry out due outbox tasks soon, not in this request."""


class InProcessTasks:
    """The embedded default: one background thread in this process carries out due tasks after each kick."""

    def __init__(self, carry_out: Callable[[], int]) -> None:
        self._carry_out = carry_out
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="citytiles-outbox")
        self._pending: list[Future[None]] = []
        self._lock = threading.Lock()

    def kick(self) -> None:
        """Queue one pass over the due tasks."""
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            self._pending.append(self._executor.submit(self._run))

    def drain(self, timeout: float = 30) -> None:
        """Wait for every queued pass (tests, and shutting down)."""
        with self._lock:
            pending = list(self._pending)
        for future in pending:
            future.result(timeout)

    def _run(self) -> None:
        try:
            self._carry_out()
        except Exception:  # noqa: BLE001 - a background pass must not die silently; the sweep retries its work
            log.exception("an outbox pass failed")


class CeleryTasks:
    """With Redis: the kick is a Celery task, so any worker machine carries it out."""

    def __init__(self, send_task: Callable[[str], object]) -> None:
        self._send_task = send_task

    def kick(self) -> None:
        """Send the carry-out task to the broker."""
        self._send_task(CARRY_OUT_OUTBOX)


def build_tasks(settings: Settings, carry_out: Callable[[], int]) -> Tasks:
    """Celery when REDIS_URL is set (its broker), else this process's own thread."""
    if settings.redis_url:
        from celery import Celery

        client = Celery("citytiles", broker=settings.redis_url)
        return CeleryTasks(lambda name: client.send_task(name))
    return InProcessTasks(carry_out)
