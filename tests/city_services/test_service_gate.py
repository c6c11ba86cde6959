"""The gate every service call passes: the tile's state for the city and the session's channel."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import time
from datetime import timedelta

import pytest

from city_services.availability import Hours
from city_services.availability import Window
from city_services.catalogue import CatalogueSnapshot
from city_services.catalogue import CityEntry
from city_services.catalogue import TileEntry
from city_services.service_gate import ServiceClosed
from city_services.service_gate import ServicePaused
from city_services.service_gate import open_service
from errors import NotFound

NOW = datetime(2026, 11, 23, 4, 0, tzinfo=UTC)  # 12:00 in Hangzhou, a Monday
ALWAYS = Hours(None, None, frozenset(range(1, 8)))


def snapshot(*, enabled: bool = True, hours: Hours = ALWAYS, windows: tuple[Window, ...] = ()) -> CatalogueSnapshot:
    entry = TileEntry(
        "housing_fund", {"zh-CN": "公积金查询", "en": "Housing fund"}, "housing", "hf", enabled, hours, windows
    )
    other = TileEntry("car_move", {"zh-CN": "挪车", "en": "Car move"}, "traffic", "cm", True, ALWAYS, ())
    return CatalogueSnapshot(
        revision=1,
        cities=(CityEntry("330100", {"zh-CN": "杭州市", "en": "Hangzhou"}),),
        tiles={("330100", "wechat"): (entry, other)},
    )


def test_an_available_service_passes() -> None:
    open_service(snapshot(), "330100", "housing_fund", "wechat", NOW)


def test_a_switched_off_service_is_a_conflict_with_the_tiles_notice() -> None:
    with pytest.raises(ServiceClosed) as refused:
        open_service(snapshot(enabled=False), "330100", "housing_fund", "wechat", NOW)
    assert refused.value.code == "service.not_offered"
    assert refused.value.details["message"]["zh-CN"] == "该服务在本市暂未开通"


def test_outside_hours_is_a_conflict_saying_when_it_opens() -> None:
    hours = Hours(time(13, 0), time(17, 0), frozenset(range(1, 8)))
    with pytest.raises(ServiceClosed) as refused:
        open_service(snapshot(hours=hours), "330100", "housing_fund", "wechat", NOW)
    assert refused.value.code == "service.off_hours"
    assert refused.value.details["available_again_at"] == "2026-11-23T05:00:00+00:00"


def test_maintenance_is_unavailable_until_the_window_ends() -> None:
    window = Window(NOW - timedelta(minutes=5), NOW + timedelta(minutes=90), "系统升级", "Upgrade")
    with pytest.raises(ServicePaused) as refused:
        open_service(snapshot(windows=(window,)), "330100", "housing_fund", "wechat", NOW)
    assert refused.value.code == "service.maintenance"
    assert refused.value.retry_after == 90 * 60
    assert refused.value.message == "系统升级"
    assert refused.value.details == {
        "city": "330100",
        "service": "housing_fund",
        "channel": "wechat",
        "state": "maintenance",
        "message": {"zh-CN": "系统升级", "en": "Upgrade"},
        "available_again_at": (NOW + timedelta(minutes=90)).isoformat(),
    }


def test_the_other_service_is_untouched_by_one_being_off() -> None:
    open_service(snapshot(enabled=False), "330100", "car_move", "wechat", NOW)


@pytest.mark.parametrize(
    ("city", "service", "channel", "code"),
    [
        ("999999", "housing_fund", "wechat", "catalogue.city_not_found"),
        ("330100", "outpatient", "wechat", "catalogue.offering_not_found"),
        ("330100", "housing_fund", "alipay", "catalogue.offering_not_found"),
    ],
)
def test_unknown_city_or_offering_is_not_found(city: str, service: str, channel: str, code: str) -> None:
    with pytest.raises(NotFound) as refused:
        open_service(snapshot(), city, service, channel, NOW)
    assert refused.value.code == code


@pytest.mark.parametrize(("left", "retry_after"), [(timedelta(milliseconds=300), 1), (timedelta(seconds=1.2), 2)])
def test_retry_after_rounds_the_rest_of_the_window_up(left: timedelta, retry_after: int) -> None:
    window = Window(NOW - timedelta(minutes=5), NOW + left, "系统升级", "Upgrade")
    with pytest.raises(ServicePaused) as refused:
        open_service(snapshot(windows=(window,)), "330100", "housing_fund", "wechat", NOW)
    assert refused.value.retry_after == retry_after
