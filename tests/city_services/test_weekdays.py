"""Every weekday 1..7 counts: from the seed file and an operator's change, through storage, to the tile's state."""

from __future__ import annotations

from datetime import datetime
from datetime import time
from datetime import timedelta
from pathlib import Path

import pytest

from city_services.availability import CITY_TIME
from city_services.availability import Hours
from city_services.availability import availability
from city_services.catalogue import hours_of
from city_services.models import Offering
from city_services.offering_rules import check_hours
from city_services.offering_rules import normalise_weekdays
from city_services.seeding import read_seed
from errors import Invalid
from tests.conftest import Api
from tests.conftest import Clock

MONDAY = datetime(2026, 11, 16, 12, 0, tzinfo=CITY_TIME)  # a week from Monday 16 to Sunday 22 November 2026
WEEK = {day: MONDAY + timedelta(days=day - 1) for day in range(1, 8)}
EVERY_DAY = frozenset(range(1, 8))


@pytest.mark.parametrize("weekday", range(1, 8))
def test_a_service_open_on_one_weekday_is_open_that_day_only(weekday: int) -> None:
    for hours in (Hours(None, None, frozenset({weekday})), Hours(time(9, 0), time(17, 0), frozenset({weekday}))):
        assert {day for day, moment in WEEK.items() if hours.open_at(moment)} == {weekday}


@pytest.mark.parametrize("closed", range(1, 8))
def test_a_service_closed_on_one_weekday_is_open_every_other_day(closed: int) -> None:
    hours = Hours(None, None, EVERY_DAY - {closed})
    assert {day for day, moment in WEEK.items() if not hours.open_at(moment)} == {closed}


def test_open_every_day_means_all_seven() -> None:
    assert all(Hours(None, None, EVERY_DAY).open_at(moment) for moment in WEEK.values())
    assert all(Hours(time(9, 0), time(17, 0), EVERY_DAY).open_at(moment) for moment in WEEK.values())


@pytest.mark.parametrize("weekday", range(1, 8))
def test_the_next_opening_is_on_the_one_open_weekday(weekday: int) -> None:
    hours = Hours(time(9, 0), time(17, 0), frozenset({weekday}))
    after_sunday = WEEK[7] + timedelta(hours=6)  # Sunday 18:00: the next opening is always in the coming week
    opening = WEEK[weekday] + timedelta(days=7, hours=-3)
    assert hours.next_opening(after_sunday) == opening
    assert availability(True, hours, (), after_sunday).back_at == opening


@pytest.mark.parametrize(
    ("weekdays", "zh", "en"),
    [
        (EVERY_DAY, "每天全天", "Every day, all day"),
        (frozenset({1, 2, 3, 4, 5}), "周一至周五全天", "Mon-Fri, all day"),
        (frozenset({6, 7}), "周六、周日全天", "Sat, Sun, all day"),
        (
            frozenset({1, 2, 3, 4, 5, 6}),
            "周一、周二、周三、周四、周五、周六全天",
            "Mon, Tue, Wed, Thu, Fri, Sat, all day",
        ),
    ],
)
def test_weekdays_are_described_in_both_languages(weekdays: frozenset[int], zh: str, en: str) -> None:
    assert Hours(None, None, weekdays).describe() == {"zh-CN": zh, "en": en}


@pytest.mark.parametrize("weekdays", ["1", "2", "3", "4", "5", "6", "7", "1234567", "67"])
def test_stored_weekdays_read_back_whole(weekdays: str) -> None:
    check_hours(None, None, weekdays)
    stored = Offering(opens_at="09:00", closes_at="17:00", open_weekdays=weekdays)
    assert hours_of(stored) == Hours(time(9, 0), time(17, 0), frozenset(int(d) for d in weekdays))


@pytest.mark.parametrize("weekdays", ["0", "8", "12345678", "11", ""])
def test_weekdays_outside_1_to_7_or_repeated_are_refused(weekdays: str) -> None:
    with pytest.raises(Invalid):
        check_hours(None, None, weekdays)


def test_weekdays_are_stored_in_order() -> None:
    assert normalise_weekdays("7654321") == "1234567"


def test_a_seeded_offering_without_weekdays_is_open_all_seven(tmp_path: Path) -> None:
    seed = """
[[services]]
code = "car_move"
name_zh = "一键挪车"
name_en = "Car move"
category = "traffic"
icon = "car-move"

[[cities]]
code = "320100"
name_zh = "南京市"
name_en = "Nanjing"

  [[cities.offerings]]
  service = "car_move"
  channels = ["alipay"]
  enabled = true

  [[cities.offerings]]
  service = "car_move"
  channels = ["wechat"]
  enabled = true
  hours = { weekdays = "76" }

  [[cities.upstreams]]
  service = "car_move"
  adapter = "fake"
"""
    path = tmp_path / "cities.toml"
    path.write_text(seed, encoding="utf-8")
    weekdays = {o.channel: o.open_weekdays for o in read_seed(path).offerings}
    assert weekdays == {"alipay": "1234567", "wechat": "67"}


@pytest.mark.usefixtures("seeded")
def test_an_offering_open_on_sundays_only_is_available_on_sunday(make_staff, api: Api, clock: Clock) -> None:
    admin = make_staff("root", "platform_admin")
    change = {"reason": "Sunday clinic", "hours": {"opens_at": "08:00", "closes_at": "18:00", "weekdays": "7"}}
    api.patch("/admin/api/cities/330100/services/outpatient/channels/wechat", json=change, token=admin)

    def outpatient_state() -> str:
        tiles = api.get("/api/v1/cities/330100/services?channel=wechat")["tiles"]
        state: str = next(t for t in tiles if t["code"] == "outpatient")["state"]
        return state

    assert outpatient_state() == "off_hours"  # Wednesday
    clock.advance(days=3)
    assert outpatient_state() == "off_hours"  # Saturday
    clock.advance(days=1)
    assert outpatient_state() == "available"  # Sunday 10:00 in Hangzhou
