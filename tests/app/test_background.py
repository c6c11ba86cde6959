"""Kicks never hold up the request that kicks, and a burst of them is a few passes, not one per kick."""

from __future__ import annotations

import threading
import time

from app.background import CARRY_OUT_OUTBOX
from app.background import CeleryTasks
from app.background import InProcessTasks


class Broker:
    """A broker client that holds its first send until released, and counts what it was sent."""

    def __init__(self, failing: int = 0) -> None:
        self.sent: list[str] = []
        self.sending = threading.Event()
        self.release = threading.Event()
        self.failing = failing

    def send_task(self, name: str) -> None:
        self.sending.set()
        self.release.wait(10)
        if self.failing:
            self.failing -= 1
            raise ConnectionError("broker down")
        self.sent.append(name)


def wait_for(condition: object, seconds: float = 10) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:  # type: ignore[operator]
        time.sleep(0.01)


def test_a_kick_returns_before_the_broker_answers_and_a_burst_is_one_more_message() -> None:
    broker = Broker()
    tasks = CeleryTasks(broker.send_task)
    started = time.monotonic()
    tasks.kick()
    assert broker.sending.wait(5)
    for _ in range(50):
        tasks.kick()  # all while the first is still being sent
    assert time.monotonic() - started < 5
    assert broker.sent == []
    broker.release.set()
    wait_for(lambda: len(broker.sent) == 2)
    time.sleep(0.1)
    assert broker.sent == [CARRY_OUT_OUTBOX, CARRY_OUT_OUTBOX]


def test_kicks_through_a_burst_are_sent_at_most_once_per_spacing() -> None:
    broker = Broker()
    broker.release.set()
    tasks = CeleryTasks(broker.send_task, spacing=0.1)
    started = time.monotonic()
    while time.monotonic() - started < 0.5:
        tasks.kick()  # a commit every 2 ms, each kicking, as under a channel's burst of notifications
        time.sleep(0.002)
    time.sleep(0.3)
    # One message at once, then at most one per 0.1 s: the last carries out what the burst's last commit left.
    assert 2 <= len(broker.sent) <= 7, broker.sent


def test_a_kick_the_broker_refused_does_not_stop_later_kicks() -> None:
    broker = Broker(failing=1)
    broker.release.set()
    tasks = CeleryTasks(broker.send_task)
    tasks.kick()
    wait_for(lambda: broker.failing == 0)
    tasks.kick()
    wait_for(lambda: broker.sent == [CARRY_OUT_OUTBOX])
    assert broker.sent == [CARRY_OUT_OUTBOX]


def test_in_process_kicks_queue_at_most_one_pass_behind_the_running_one() -> None:
    running = threading.Event()
    release = threading.Event()
    passes: list[int] = []

    def carry_out() -> int:
        running.set()
        release.wait(10)
        passes.append(1)
        return 0

    tasks = InProcessTasks(carry_out)
    tasks.kick()
    assert running.wait(5)
    for _ in range(50):
        tasks.kick()
    release.set()
    tasks.drain()
    assert len(passes) == 2
    tasks.kick()  # nothing waiting any more: a new kick is a new pass
    tasks.drain()
    assert len(passes) == 3
