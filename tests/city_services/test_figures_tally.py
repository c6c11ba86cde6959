"""The figures tally: counts add up across threads, flushes add to the hourly rows, medians come from buckets."""

from __future__ import annotations

import threading
from datetime import UTC
from datetime import date
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from city_services.figures.models import HourlyFigure
from city_services.figures.report import median_latency_ms
from city_services.figures.report import period_of
from city_services.figures.tally import Tally
from city_services.figures.tally import latency_bucket
from errors import Invalid

HZ = "330100"
AT = datetime(2026, 11, 18, 2, 17, 5, tzinfo=UTC)
HOUR = datetime(2026, 11, 18, 2, tzinfo=UTC)


@pytest.fixture
def tally(app: Flask) -> Tally:
    """A tally on the test database that only flushes when asked (the background one waits an hour)."""
    return Tally(app.extensions["session_factory"], flush_seconds=3600)


def rows(session: Session) -> dict[tuple[str, str], HourlyFigure]:
    session.rollback()
    return {(r.service_code, r.channel): r for r in session.scalars(select(HourlyFigure))}


def test_counts_from_many_threads_add_up(tally: Tally, session: Session) -> None:
    def count() -> None:
        for index in range(500):
            tally.count_visit(HZ, "wechat", AT)
            tally.count_request(HZ, "car_move", "alipay", AT, elapsed_ms=index % 300, succeeded=index % 5 != 0)

    threads = [threading.Thread(target=count) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert tally.flush() == 2
    found = rows(session)
    assert found["*", "wechat"].tile_visits == 4000 and found["*", "wechat"].hour == HOUR
    car_move = found["car_move", "alipay"]
    assert (car_move.requests, car_move.succeeded, car_move.tile_visits) == (4000, 3200, 0)
    # 0..299 ms over and over: 51 of each 300 at most 50 ms, 50 in (50, 100], 100 in (100, 200], 99 in (200, 500].
    per_thread_round = 500 // 300
    assert car_move.latency_le_50 + car_move.latency_le_100 + car_move.latency_le_200 + car_move.latency_le_500 == 4000
    assert car_move.latency_le_1000 == car_move.latency_over_5000 == 0
    assert car_move.latency_le_50 == 8 * (51 * per_thread_round + 51)


def test_a_second_flush_adds_to_the_rows_the_first_wrote(tally: Tally, session: Session) -> None:
    tally.count_visit(HZ, "wechat", AT)
    tally.count_request(HZ, "housing_fund", "wechat", AT, elapsed_ms=7000, succeeded=False)
    assert tally.flush() == 2
    assert tally.flush() == 0  # nothing new: nothing written
    tally.count_visit(HZ, "wechat", AT.replace(minute=59))
    tally.count_visit(HZ, "wechat", AT.replace(minute=59))
    tally.count_request(HZ, "housing_fund", "wechat", AT, elapsed_ms=40, succeeded=True)
    tally.count_visit(HZ, "alipay", AT.replace(hour=3))
    assert tally.flush() == 3
    found = session.scalars(select(HourlyFigure).order_by(HourlyFigure.hour, HourlyFigure.service_code)).all()
    assert [(r.hour.hour, r.service_code, r.channel, r.tile_visits) for r in found] == [
        (2, "*", "wechat", 3),
        (2, "housing_fund", "wechat", 0),
        (3, "*", "alipay", 1),
    ]
    fund = found[1]
    assert (fund.requests, fund.succeeded, fund.latency_le_50, fund.latency_over_5000) == (2, 1, 1, 1)


def test_counts_a_flush_could_not_write_are_kept_for_the_next(app: Flask, session: Session, tmp_path: Path) -> None:
    nowhere = create_engine(f"sqlite:///{tmp_path / 'not-migrated.db'}")
    tally = Tally(sessionmaker(nowhere), flush_seconds=3600)
    tally.count_visit(HZ, "wechat", AT)
    assert tally.flush() == 0  # no table there: the write fails
    tally.count_visit(HZ, "wechat", AT)
    tally.sessions = app.extensions["session_factory"]
    assert tally.flush() == 1 and rows(session)["*", "wechat"].tile_visits == 2
    nowhere.dispose()


def test_latency_buckets_take_their_upper_bound() -> None:
    assert [latency_bucket(ms) for ms in (0, 50, 50.1, 100, 101, 5000, 5000.5, 60_000)] == [0, 0, 1, 1, 2, 6, 7, 7]


def test_the_median_is_the_upper_bound_of_the_bucket_holding_the_middle_call() -> None:
    assert median_latency_ms([0] * 8) is None
    assert median_latency_ms([1, 0, 0, 0, 0, 0, 0, 0]) == 50
    assert median_latency_ms([2, 0, 2, 0, 0, 0, 0, 0]) == 50  # half at most 50 ms
    assert median_latency_ms([2, 0, 3, 0, 0, 0, 0, 0]) == 200
    assert median_latency_ms([0, 0, 0, 1, 0, 0, 0, 9]) == 30_000  # slower than 5 s: reported at the worker timeout


def test_a_period_is_whole_china_days_the_last_seven_by_default_and_never_backwards_or_over_92_days() -> None:
    today = date(2026, 11, 18)
    default = period_of(None, None, today)
    assert (default.first, default.last) == (date(2026, 11, 12), today)
    assert default.since == datetime(2026, 11, 11, 16, tzinfo=UTC) and default.until == datetime(
        2026, 11, 18, 16, tzinfo=UTC
    )
    assert period_of(date(2026, 1, 1), None, today).last == date(2026, 1, 7)
    assert period_of(None, date(2026, 1, 7), today).first == date(2026, 1, 1)
    assert period_of(date(2026, 1, 1), date(2026, 4, 2), today).last == date(2026, 4, 2)  # 92 days
    for first, last in ((date(2026, 1, 2), date(2026, 1, 1)), (date(2026, 1, 1), date(2026, 4, 3))):
        with pytest.raises(Invalid) as refused:
            period_of(first, last, today)
        assert refused.value.code == "figures.invalid_period"
