"""Running the same work from many threads at once, and failing loudly if any thread failed."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def run_together(count: int, work: Callable[[int], T], *, timeout: float = 60) -> list[T]:
    """Start `count` threads on work(i) released at one instant; their results in thread order."""
    start = threading.Barrier(count, timeout=timeout)
    results: list[T | None] = [None] * count
    failures: list[BaseException] = []

    def run(index: int) -> None:
        try:
            start.wait()
            results[index] = work(index)
        except BaseException as error:  # noqa: BLE001 - reported to the test below
            failures.append(error)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout)
    if failures:
        raise failures[0]
    assert not any(thread.is_alive() for thread in threads), "a racing thread never finished"
    return results  # type: ignore[return-value]
