"""What a message asks for: whole keywords after folding, 挪车 with a plate, menu clicks, events, locations, help."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime

import pytest

from chat.ports import CLICK
from chat.ports import EVENT
from chat.ports import FOLLOW
from chat.ports import LOCATION
from chat.ports import TEXT
from chat.ports import UNFOLLOW
from chat.ports import Incoming
from chat.routing import CAR_MOVE
from chat.routing import FAREWELL
from chat.routing import HELP
from chat.routing import HOUSING_FUND
from chat.routing import OUTPATIENT
from chat.routing import PLACE
from chat.routing import PROGRESS
from chat.routing import WELCOME
from chat.routing import Route
from chat.routing import fold
from chat.routing import route

MENU = {"FUND": HOUSING_FUND, "MINE": PROGRESS}


def said(text: str) -> Incoming:
    return Incoming("wechat", "wx-account", "openid-1", "m1", TEXT, datetime(2026, 11, 24, tzinfo=UTC), text=text)


def happened(event: str, key: str = "") -> Incoming:
    return Incoming(
        "wechat", "wx-account", "openid-1", "e1", EVENT, datetime(2026, 11, 24, tzinfo=UTC), event=event, event_key=key
    )


def routed(incoming: Incoming, language: str = "zh-CN", keywords: dict[str, str] | None = None) -> Route:
    return route(incoming, language, MENU, keywords or {})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("公积金", Route(HOUSING_FUND, "zh-CN")),
        ("  公积金余额 ", Route(HOUSING_FUND, "zh-CN")),
        ("查公积金", Route(HOUSING_FUND, "zh-CN")),
        ("Housing   Fund", Route(HOUSING_FUND, "en")),
        ("ＨＯＵＳＩＮＧ　ＦＵＮＤ", Route(HOUSING_FUND, "en")),  # full-width letters and space fold
        ("挪车", Route(CAR_MOVE, "zh-CN")),
        ("MOVE CAR", Route(CAR_MOVE, "en")),
        ("挂号", Route(OUTPATIENT, "zh-CN")),
        ("Appointment", Route(OUTPATIENT, "en")),
        ("进度", Route(PROGRESS, "zh-CN")),
        ("我的", Route(PROGRESS, "zh-CN")),
        ("我的申请", Route(PROGRESS, "zh-CN")),
        ("my requests", Route(PROGRESS, "en")),
        ("progress", Route(PROGRESS, "en")),
        ("帮助", Route(HELP, "zh-CN")),
        ("HELP", Route(HELP, "en")),
    ],
)
def test_a_whole_keyword_routes_in_the_language_it_is_written_in(text: str, expected: Route) -> None:
    # The account speaks English here: the keyword's own language wins.
    assert routed(said(text), "en" if expected.language == "zh-CN" else "zh-CN") == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("挪车 浙a12345", Route(CAR_MOVE, "zh-CN", "浙A12345")),
        ("挪车浙A12345", Route(CAR_MOVE, "zh-CN", "浙A12345")),
        ("move car 浙a12345", Route(CAR_MOVE, "en", "浙A12345")),
        ("Move  Car   粤b 1234x", Route(CAR_MOVE, "en", "粤B 1234X")),
        ("挪车 " + "A" * 16, Route(CAR_MOVE, "zh-CN", "A" * 16)),
    ],
)
def test_a_car_move_carries_its_plate_in_capitals(text: str, expected: Route) -> None:
    assert routed(said(text), "en") == expected


@pytest.mark.parametrize(
    ("text", "language", "expected"),
    [
        ("我想查一下公积金", "zh-CN", Route(HELP, "zh-CN")),  # a sentence that mentions a keyword is not it
        ("what is my balance", "zh-CN", Route(HELP, "en")),  # plain ASCII gets English help
        ("", "zh-CN", Route(HELP, "zh-CN")),  # an empty message gets the account's language
        ("   ", "en", Route(HELP, "en")),
        ("挪车 " + "A" * 17, "en", Route(HELP, "en")),  # longer than any plate
        ("挪车 ", "zh-CN", Route(CAR_MOVE, "zh-CN")),  # folded to the bare keyword
        ("你好", "en", Route(HELP, "en")),
    ],
)
def test_anything_else_gets_the_help(text: str, language: str, expected: Route) -> None:
    assert routed(said(text), language) == expected


def test_an_operators_keyword_comes_first_and_matches_folded() -> None:
    keywords = {"  ＧＪＪ ": HOUSING_FUND, "进度": OUTPATIENT}
    assert routed(said("gjj"), "en", keywords) == Route(HOUSING_FUND, "en")
    # An operator may rebind a built-in word; the account's language answers it.
    assert routed(said("进度"), "en", keywords) == Route(OUTPATIENT, "en")
    assert routed(said("进度"), "en") == Route(PROGRESS, "zh-CN")


def test_events_and_clicks_route_in_the_accounts_language() -> None:
    assert routed(happened(FOLLOW), "en") == Route(WELCOME, "en")
    assert routed(happened(UNFOLLOW)) == Route(FAREWELL, "zh-CN")
    assert routed(happened(CLICK, "FUND"), "en") == Route(HOUSING_FUND, "en")
    assert routed(happened(CLICK, "MINE")) == Route(PROGRESS, "zh-CN")
    assert routed(happened(CLICK, "NOT_A_KEY")) == Route(HELP, "zh-CN")
    assert routed(happened("scan")) == Route(HELP, "zh-CN")


def test_a_location_is_a_place_whatever_else_it_says() -> None:
    where = Incoming(
        "wechat", "wx-account", "openid-1", "l1", LOCATION, datetime(2026, 11, 24, tzinfo=UTC), text="公积金"
    )
    assert routed(where, "en") == Route(PLACE, "en")


def test_folding_trims_collapses_and_lowers() -> None:
    assert fold("\u3000 Move\t\nＣＡＲ  ") == "move car"
