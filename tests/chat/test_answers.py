"""What the local intents say: the mini-program link per channel and language, and the latest requests."""

from __future__ import annotations

from datetime import UTC
from datetime import date
from datetime import datetime
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from chat import routing
from chat.accounts import Account
from chat.answers import reply_to
from chat.models import ChatMessage
from city_services.car_move.models import CarMoveRequest
from city_services.car_move.plates import PLATE_PURPOSE
from city_services.car_move.plates import mask_plate
from city_services.outpatient.models import Appointment
from database import transaction
from identity.models import Resident

NOW = datetime(2026, 11, 18, 2, 0, tzinfo=UTC)
WECHAT = Account("wechat", "wx9a8b7c6d5e4f3a20", "330100", mini_program_app_id="wx7c1b5d1e2f3a4b50")
ALIPAY = Account("alipay", "2021004100000002", "330100", mini_program_app_id="2021004100000001", passive=False)
LINK = '<a data-miniprogram-appid="wx7c1b5d1e2f3a4b50" data-miniprogram-path="pages/outpatient/index">'
BARE = Account("wechat", "wx0000000000000001", "330100")


class NoUpstream:
    """CityServices for intents that need none: any call is a test failure."""

    def fund_account(self, *args: Any) -> Any:
        raise AssertionError("no upstream for this intent")

    def ask_to_move(self, *args: Any) -> Any:
        raise AssertionError("no upstream for this intent")


def resident(session: Session) -> Resident:
    with transaction(session):
        row = Resident(public_id="r_chat_answers", created_at=NOW, assurance_level="none")
        session.add(row)
    return row


def said(app: Flask, session: Session, account: Account, intent: str, language: str, who: Resident) -> str:
    message = ChatMessage(intent=intent, language=language, resident_id=who.id, app_id=account.app_id)
    return reply_to(session, NoUpstream(), app.extensions["vault"], account, message, {}, now=NOW)


@pytest.mark.parametrize(
    ("account", "language", "expected"),
    [
        (WECHAT, "zh-CN", f"请在“城市服务”小程序里挂号：\n{LINK}点这里挂号</a>"),
        (WECHAT, "en", f"Book in the City Services mini-program:\n{LINK}Book here</a>"),
        (ALIPAY, "zh-CN", "请在“城市服务”小程序里挂号：\n点这里挂号：alipays://platformapi/startapp?appId=2021004100000001&page=pages%2Foutpatient%2Findex"),
        (BARE, "zh-CN", "请打开“城市服务”小程序挂号。"),
        (BARE, "en", "Please book in the City Services mini-program."),
    ],
)  # fmt: skip
def test_the_appointment_keyword_links_the_channels_mini_program(
    app: Flask, session: Session, account: Account, language: str, expected: str
) -> None:
    assert said(app, session, account, "outpatient", language, resident(session)) == expected


def book(
    session: Session, who: Resident, n: int, status: str, created: datetime, expires: datetime | None = None
) -> None:
    starts = datetime(2026, 11, 20 + n, 1, 30, tzinfo=UTC)  # 09:30 in Beijing
    with transaction(session):
        session.add(
            Appointment(
                public_id=f"ap{n:020d}", resident_id=who.id, city_code="330100", channel="wechat", adapter="fake",
                hospital_id="H1", hospital_name=f"医院{n}", department_id="D1", department_name=f"科室{n}",
                slot_id=f"S{n}", doctor="王医生", starts_at=starts, ends_at=starts + timedelta(minutes=30),
                visit_date=date(2026, 11, 20 + n), fee_fen=0, status=status, expires_at=expires,
                created_at=created, updated_at=created,
            )
        )  # fmt: skip


def test_progress_lists_the_three_newest_with_their_status_and_time(app: Flask, session: Session) -> None:
    who = resident(session)
    assert said(app, session, WECHAT, "progress", "en", who) == "You have no requests yet."
    for n, status in enumerate(("confirmed", "cancelled", "held", "confirmed")):
        book(session, who, n, status, NOW - timedelta(hours=4 - n))
    shown = said(app, session, WECHAT, "progress", "zh-CN", who).split("\n")
    assert shown == [
        "您最近的申请：",
        "· 挂号 医院3 科室3：已预约（11月23日 09:30）",
        "· 挂号 医院2 科室2：待支付（11月22日 09:30）",
        "· 挂号 医院1 科室1：已取消（11月21日 09:30）",
    ]
    english = said(app, session, WECHAT, "progress", "en", who).split("\n")
    assert english[0] == "Your latest requests:" and english[1] == "· Appointment 医院3 科室3: booked (23 Nov 09:30)"


def ask_to_move(
    app: Flask, session: Session, who: Resident, n: int, status: str, plate: str | None, at: datetime
) -> None:
    sealed = app.extensions["vault"].seal(PLATE_PURPOSE, plate) if plate is not None else None
    with transaction(session):
        session.add(
            CarMoveRequest(
                public_id=f"cm{n:020d}", requester_id=who.id, city_code="330100", adapter="fake",
                request_no=f"ct{n:010d}", status=status, plate_sealed=sealed, timeline=[],
                created_at=at, updated_at=at,
            )
        )  # fmt: skip


def test_progress_mixes_car_moves_and_appointments_newest_first_in_the_residents_language(
    app: Flask, session: Session
) -> None:
    who = resident(session)
    ask_to_move(app, session, who, 1, "moved", "浙A12345", NOW - timedelta(hours=3))
    ask_to_move(app, session, who, 2, "notified", None, NOW - timedelta(hours=1))  # its plate erased
    book(session, who, 1, "held", NOW - timedelta(hours=2), expires=NOW - timedelta(minutes=1))
    assert said(app, session, WECHAT, "progress", "en", who).split("\n") == [
        "Your latest requests:",
        "· Car move : owner told (18 Nov 09:00)",
        "· Appointment 医院1 科室1: expired (21 Nov 09:30)",
        "· Car move 浙A***45: car moved (18 Nov 07:00)",
    ]
    assert (
        said(app, session, WECHAT, "progress", "zh-CN", who).split("\n")[3]
        == "· 挪车 浙A***45：车已挪走（11月18日 07:00）"
    )


def test_progress_keeps_requests_made_at_the_same_moment_newest_first(app: Flask, session: Session) -> None:
    who = resident(session)
    book(session, who, 2, "confirmed", NOW - timedelta(hours=1))
    book(session, who, 1, "confirmed", NOW - timedelta(hours=1))
    assert said(app, session, WECHAT, "progress", "zh-CN", who).split("\n")[1:] == [
        "· 挂号 医院1 科室1：已预约（11月21日 09:30）",
        "· 挂号 医院2 科室2：已预约（11月22日 09:30）",
    ]


class Moves:
    """CityServices that records the car-move request asked for and answers as the use-case does."""

    def __init__(self) -> None:
        self.asked: list[tuple[Any, ...]] = []

    def fund_account(self, *args: Any) -> Any:
        raise AssertionError("no fund lookup for a car move")

    def ask_to_move(self, session: Any, who: Any, city: str, channel: str, plate: str, lat: float, lng: float) -> Any:
        self.asked.append((who.id, city, channel, plate, lat, lng))
        return SimpleNamespace(plate="浙A1**45", id="cm_0042")


@pytest.mark.parametrize(
    ("intent", "work", "expected"),
    [
        ("car_move", {"bad_plate": True}, "That is not a plate.\nFor example: move car 浙A12345"),
        ("car_move", {}, "Please send the plate, e.g. move car 浙A12345"),
        (routing.PLACE, {}, "Location noted.\nTo ask a driver to move, send: move car <plate>"),
        (
            "car_move",
            {"plate": "浙A12345"},
            "Plate {masked} noted.\nPlease send your location, then we tell the owner.",
        ),
        (
            "car_move",
            {"plate": "浙A12345", "latitude": 30.25, "longitude": 120.16},
            "We asked the owner to move, plate 浙A1**45.\nRequest cm_0042.\nSend progress to follow it.",
        ),
    ],
)
def test_a_car_move_by_chat_says_what_is_missing_or_what_was_asked_in_the_residents_language(
    app: Flask, session: Session, intent: str, work: dict[str, Any], expected: str
) -> None:
    who, moves = resident(session), Moves()
    message = ChatMessage(intent=intent, language="en", resident_id=who.id, app_id=WECHAT.app_id)
    reply = reply_to(session, moves, app.extensions["vault"], WECHAT, message, work, now=NOW)
    assert reply == expected.format(masked=mask_plate("浙A12345"))
    asked = [(who.id, "330100", "wechat", "浙A12345", 30.25, 120.16)] if "latitude" in work else []
    assert moves.asked == asked


class Funds:
    """CityServices that answers one fund account (or none) and records whose was asked."""

    def __init__(self, fund: Any) -> None:
        self.fund, self.asked = fund, []

    def fund_account(self, session: Any, who: Any, city: str, channel: str) -> Any:
        self.asked.append((who.id, city, channel))
        return self.fund

    def ask_to_move(self, *args: Any) -> Any:
        raise AssertionError("no car move for a balance")


ENGLISH = "Your housing fund balance: 12,345.67 yuan.\nAccount ****7890, {state}.\nPaid in each month: 2,500.00 yuan."


def fund(status: str) -> Any:
    return SimpleNamespace(
        balance_fen=1234567, account_number="3301001234567890", status=status, monthly=SimpleNamespace(total_fen=250000)
    )


@pytest.mark.parametrize(
    ("status", "language", "expected"),
    [
        ("normal", "zh-CN", "您的公积金余额：12,345.67 元。\n账户 ****7890，正常缴存。\n每月缴存 2,500.00 元。"),
        ("active", "en", ENGLISH.format(state="active")),
        ("sealed", "zh-CN", "您的公积金余额：12,345.67 元。\n账户 ****7890，已封存。\n每月缴存 2,500.00 元。"),
        ("closed", "en", ENGLISH.format(state="closed")),
        ("frozen", "en", ENGLISH.format(state="active")),
        (None, "zh-CN", "没有查到您在本市的公积金账户。"),
        (None, "en", "We found no housing fund account of yours in this city."),
    ],
)  # fmt: skip
def test_the_balance_says_yuan_the_last_four_digits_and_the_state_in_the_residents_language(
    app: Flask, session: Session, status: str | None, language: str, expected: str
) -> None:
    who, funds = resident(session), Funds(fund(status) if status is not None else None)
    message = ChatMessage(intent="housing_fund", language=language, resident_id=who.id, app_id=ALIPAY.app_id)
    assert reply_to(session, funds, app.extensions["vault"], ALIPAY, message, {}, now=NOW) == expected
    assert funds.asked == [(who.id, "330100", "alipay")]
