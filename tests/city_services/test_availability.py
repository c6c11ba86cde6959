"""The state a resident sees is derived from settings and the clock."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta

import pytest

from city_services.availability import CITY_TIME
from city_services.availability import Hours
from city_services.availability import Window
from city_services.availability import availability
from city_services.availability import next_change

ALL_DAY = Hours(None, None, frozenset(range(1, 8)))
OFFICE = Hours(time(8, 30), time(17, 30), frozenset({1, 2, 3, 4, 5}))


def local(*args: int) -> datetime:
    return datetime(*args, tzinfo=CITY_TIME)


def test_enabled_all_day_offering_is_available() -> None:
    assert availability(True, ALL_DAY, (), local(2026, 11, 18, 3, 0)).state == "available"


def test_disabled_offering_is_unavailable_with_a_notice_and_no_return_time() -> None:
    result = availability(False, ALL_DAY, (), local(2026, 11, 18, 10, 0))
    assert result.state == "unavailable"
    assert result.message and result.message["zh-CN"] and result.message["en"]
    assert result.back_at is None


def test_office_hours_open_inside_and_closed_at_the_edges() -> None:
    assert availability(True, OFFICE, (), local(2026, 11, 18, 8, 30)).state == "available"
    assert availability(True, OFFICE, (), local(2026, 11, 18, 17, 29)).state == "available"
    closed = availability(True, OFFICE, (), local(2026, 11, 18, 17, 30))
    assert closed.state == "off_hours"
    assert closed.back_at == local(2026, 11, 19, 8, 30)
    assert "08:30-17:30" in closed.message["zh-CN"]


def test_friday_evening_is_back_on_monday_morning() -> None:
    result = availability(True, OFFICE, (), local(2026, 11, 20, 20, 0))
    assert result.state == "off_hours"
    assert result.back_at == local(2026, 11, 23, 8, 30)


def test_early_morning_is_back_the_same_day() -> None:
    assert availability(True, OFFICE, (), local(2026, 11, 18, 6, 0)).back_at == local(2026, 11, 18, 8, 30)


def test_maintenance_takes_precedence_and_shows_the_operators_message() -> None:
    window = Window(local(2026, 11, 18, 9, 0), local(2026, 11, 18, 11, 0), "系统升级中", "Upgrading")
    result = availability(True, OFFICE, (window,), local(2026, 11, 18, 10, 0))
    assert result.state == "maintenance"
    assert result.message == {"zh-CN": "系统升级中", "en": "Upgrading"}
    assert result.back_at == local(2026, 11, 18, 11, 0)


def test_maintenance_ending_after_hours_is_back_at_the_next_opening() -> None:
    window = Window(local(2026, 11, 18, 16, 0), local(2026, 11, 18, 19, 0), "升级", None)
    result = availability(True, OFFICE, (window,), local(2026, 11, 18, 16, 30))
    assert result.message == {"zh-CN": "升级", "en": "升级"}
    assert result.back_at == local(2026, 11, 19, 8, 30)


def test_back_to_back_windows_report_the_end_of_the_last() -> None:
    first = Window(local(2026, 11, 18, 9, 0), local(2026, 11, 18, 10, 0), "a", None)
    second = Window(local(2026, 11, 18, 10, 0), local(2026, 11, 18, 12, 0), "b", None)
    assert availability(True, ALL_DAY, (first, second), local(2026, 11, 18, 9, 30)).back_at == local(
        2026, 11, 18, 12, 0
    )


def test_off_hours_return_skips_a_window_at_the_next_opening() -> None:
    window = Window(local(2026, 11, 19, 8, 0), local(2026, 11, 19, 9, 0), "a", None)
    result = availability(True, OFFICE, (window,), local(2026, 11, 18, 20, 0))
    assert result.back_at == local(2026, 11, 19, 9, 0)


def test_future_and_past_windows_do_not_affect_now() -> None:
    past = Window(local(2026, 11, 1, 0, 0), local(2026, 11, 2, 0, 0), "a", None)
    future = Window(local(2026, 12, 1, 0, 0), local(2026, 12, 2, 0, 0), "b", None)
    assert availability(True, ALL_DAY, (past, future), local(2026, 11, 18, 10, 0)).state == "available"


def test_hours_are_read_in_city_time_whatever_the_clock_zone() -> None:
    # 01:00 UTC is 09:00 in Hangzhou: open.
    assert availability(True, OFFICE, (), datetime(2026, 11, 18, 1, 0, tzinfo=UTC)).state == "available"
    # 10:00 UTC is 18:00 in Hangzhou: closed.
    assert availability(True, OFFICE, (), datetime(2026, 11, 18, 10, 0, tzinfo=UTC)).state == "off_hours"


WEEKEND_MORNINGS = Hours(time(9, 0), time(12, 0), frozenset({6, 7}))
UPGRADE = Window(local(2026, 11, 20, 9, 0).astimezone(UTC), local(2026, 11, 21, 10, 15).astimezone(UTC), "升级", None)


@pytest.mark.parametrize("hours", [ALL_DAY, OFFICE, WEEKEND_MORNINGS, Hours(None, None, frozenset({3}))])
@pytest.mark.parametrize("windows", [(), (UPGRADE,)])
def test_nothing_a_resident_sees_changes_before_next_change(hours: Hours, windows: tuple[Window, ...]) -> None:
    moment, end = local(2026, 11, 17, 23, 50).astimezone(UTC), local(2026, 11, 25, 0, 0).astimezone(UTC)
    while moment < end:
        until = next_change(True, hours, windows, moment)
        assert until is not None and until > moment
        shown = availability(True, hours, windows, moment)
        probe = moment
        while probe < until:
            assert availability(True, hours, windows, probe) == shown, (moment, probe)
            probe += timedelta(minutes=7)
        assert availability(True, hours, windows, until - timedelta(microseconds=1)) == shown
        moment = until
    assert next_change(False, OFFICE, windows, moment) is None
