"""Background work: outbox tasks carried out after their commit, on Celery when REDIS_URL is set, else in-process.

Either way the outbox table is the truth: a kick only says "there is work"; the sweep (Celery beat,
or `flask sweep`) carries out anything a lost kick left behind.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from config import Settings

log = logging.getLogger("citytiles.background")
CARRY_OUT_OUTBOX = "citytiles.carry_out_outbox"
# The least time between two kicks a process sends: under a burst of commits (a channel's notifications)
# a kick per commit cost a fifth of the web tier's CPU, and one kick carries out every task due by then.
KICK_SPACING = 0.05


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
        """Queue one pass over the due tasks, unless one is already waiting to start (it will see them too)."""
        with self._lock:
            self._pending = [f for f in self._pending if not f.done()]
            if not any(not f.running() for f in self._pending):
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
    """With Redis: the kick is a Celery task, so any worker machine carries it out.

    Kicks are sent by one thread per process, never by the request that kicks: a request does not
    wait on the broker, and the kicks of a burst that arrive while one is being sent, or within
    `spacing` after it, become one more message (each carries out every due task, so one is as good
    as many).
    """

    def __init__(self, send_task: Callable[[str], object], spacing: float = KICK_SPACING) -> None:
        self._send_task = send_task
        self._spacing = spacing
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self._sender: threading.Thread | None = None
        self._sender_pid = 0

    def kick(self) -> None:
        """Have the carry-out task sent to the broker soon."""
        self._wanted.set()
        if self._sender_pid != os.getpid() or self._sender is None or not self._sender.is_alive():
            self._start_sender()

    def _start_sender(self) -> None:
        # Started on first use, and again in a forked worker: a thread does not survive fork().
        with self._lock:
            if self._sender_pid == os.getpid() and self._sender is not None and self._sender.is_alive():
                return
            self._sender = threading.Thread(target=self._send_kicks, name="citytiles-kicks", daemon=True)
            self._sender_pid = os.getpid()
            self._sender.start()

    def _send_kicks(self) -> None:
        while True:
            self._wanted.wait()
            self._wanted.clear()
            try:
                self._send_task(CARRY_OUT_OUTBOX)
            except Exception:  # noqa: BLE001 - a broker that is down loses a kick, not the work: the sweep does it
                log.exception("a kick was not sent")
            time.sleep(self._spacing)


def build_tasks(settings: Settings, carry_out: Callable[[], int]) -> Tasks:
    """Celery when REDIS_URL is set (its broker), else this process's own thread."""
    if settings.redis_url:
        from celery import Celery

        client = Celery("citytiles", broker=settings.redis_url)
        return CeleryTasks(lambda name: client.send_task(name))
    return InProcessTasks(carry_out)
