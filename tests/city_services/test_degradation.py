"""Reading breaker states for the tiles: at most once per interval per connection, at once after a local change."""

from __future__ import annotations

from city_services.degradation import BreakerWatch
from outbound.breaker import CLOSED
from outbound.breaker import OPEN
from outbound.breaker import TRIAL
from outbound.breaker import Breakers
from outbound.breaker import BreakerView
from outbound.breaker import MemoryBreakerStore


class CountingStore(MemoryBreakerStore):
    """The memory store, counting how often a state is read."""

    def __init__(self) -> None:
        super().__init__()
        self.views = 0

    def view(self, key: str) -> BreakerView:
        self.views += 1
        return super().view(key)


class BrokenStore(MemoryBreakerStore):
    def view(self, key: str) -> BreakerView:
        raise ConnectionError("store down")


class Ticks:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_reads_each_connection_at_most_once_per_interval() -> None:
    store, ticks = CountingStore(), Ticks()
    watch = BreakerWatch(Breakers(store), ttl=1.0, monotonic=ticks)
    assert [watch.refuses_calls("upstream.330100.housing_fund") for _ in range(50)] == [False] * 50
    assert store.views == 1
    ticks.now += 1.0
    watch.refuses_calls("upstream.330100.housing_fund")
    assert store.views == 2


def test_another_workers_change_shows_after_the_interval() -> None:
    store, ticks = CountingStore(), Ticks()
    watch = BreakerWatch(Breakers(store), ttl=1.0, monotonic=ticks)
    assert not watch.refuses_calls("c")
    Breakers(store).failed("c", threshold=1)  # another worker, sharing the store, opens it
    assert not watch.refuses_calls("c")
    ticks.now += 1.01
    assert watch.refuses_calls("c")


def test_this_processs_change_shows_at_once() -> None:
    store, ticks = CountingStore(), Ticks()
    breakers = Breakers(store)
    watch = BreakerWatch(breakers, ttl=60.0, monotonic=ticks)
    breakers.on_change = watch.heard
    assert not watch.refuses_calls("c")
    breakers.failed("c", threshold=1)
    assert watch.refuses_calls("c")
    breakers.succeeded("c")
    assert not watch.refuses_calls("c")
    assert breakers.view("c").state == CLOSED


def test_an_unreadable_store_keeps_the_last_reading() -> None:
    ticks = Ticks()
    assert not BreakerWatch(Breakers(BrokenStore()), monotonic=ticks).refuses_calls("c")
    store = MemoryBreakerStore()
    Breakers(store).failed("c", threshold=1)
    watch = BreakerWatch(Breakers(store), ttl=1.0, monotonic=ticks)
    assert watch.refuses_calls("c") and store.view("c").state == OPEN
    watch._breakers = Breakers(BrokenStore())  # the store goes away after the first reading
    ticks.now += 5
    assert watch.refuses_calls("c")


def test_a_degraded_tile_comes_back_by_itself_when_the_open_spell_is_over() -> None:
    store, ticks, wall = MemoryBreakerStore(), Ticks(), Ticks()
    breakers = Breakers(store, clock=wall)
    watch = BreakerWatch(breakers, ttl=1.0, monotonic=ticks, clock=wall)
    breakers.failed("c", threshold=1, reset_seconds=30)
    assert watch.refuses_calls("c")
    ticks.now, wall.now = ticks.now + 29, wall.now + 29
    assert watch.refuses_calls("c")
    # Nobody called: the tile shows available again, and the next tap is the trial.
    ticks.now, wall.now = ticks.now + 2, wall.now + 2
    assert not watch.refuses_calls("c")
    assert breakers.admit("c", 30, 5).verdict == TRIAL
    breakers.failed("c", threshold=1, reset_seconds=30)
    ticks.now += 1
    assert watch.refuses_calls("c")
