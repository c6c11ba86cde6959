"""Identity's own rules: plausible ID numbers, real name characters, staff accounts with real content."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC
from datetime import datetime

import pytest
from flask import Flask
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import Invalid
from identity.id_numbers import PROVINCE_CODES
from identity.id_numbers import check_digit
from identity.id_numbers import id_number_problem
from identity.models import StaffMember
from identity.real_name import _NAME
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import check_new_staff_member
from tests.conftest import STAFF_PASSWORD

NOW = datetime(2026, 11, 18, 2, tzinfo=UTC)


def numbered(first_seventeen: str) -> str:
    return first_seventeen + check_digit(first_seventeen)


@pytest.mark.parametrize(
    ("id_number", "why"),
    [
        (numbered("00010519491231002"), "province"),
        (numbered("10010519491231002"), "province"),
        (numbered("66010519491231002"), "province"),
        (numbered("91010519491231002"), "province"),
        ("440524188001010014", "plausible"),
        (numbered("11010518991231002"), "plausible"),
        (numbered("11010520261119002"), "plausible"),
        (numbered("11010530000101002"), "plausible"),
        ("11010519491231002X\n", "17 digits"),
    ],
)
def test_id_numbers_need_a_known_province_and_a_plausible_birth_date(id_number: str, why: str) -> None:
    assert why in (id_number_problem(id_number, now=NOW) or "")


@pytest.mark.parametrize("first_two", sorted(PROVINCE_CODES))
def test_every_known_province_code_is_taken(first_two: str) -> None:
    assert id_number_problem(numbered(first_two + "010519900101002"), now=NOW) is None


def test_the_birth_date_may_be_today_in_china() -> None:
    # 2026-11-18 02:00 UTC is already 10:00 on the 18th in Beijing.
    assert id_number_problem(numbered("11010520261118002"), now=NOW) is None
    assert "plausible" in (id_number_problem(numbered("11010520261118002"), now=NOW.replace(day=17, hour=15)) or "")
    assert id_number_problem(numbered("11010519000101002"), now=NOW) is None


def test_the_province_list_is_the_real_one() -> None:
    assert PROVINCE_CODES == {
        *"11 12 13 14 15 21 22 23 31 32 33 34 35 36 37 41 42 43 44 45 46".split(),
        *"50 51 52 53 54 61 62 63 64 65 71 81 82 83".split(),
    }


@pytest.mark.parametrize(
    "name",
    [
        "张三",
        "欧阳娜娜",
        "阿依古丽·买买提",
        "𠀀三",
        "\U00030000三",
        "㐀三",
        "John Smith",
        "O'Neil",
        "Mary-Jane Li",
        "J. R. Tolkien",
    ],
)
def test_real_names_as_on_id_cards(name: str) -> None:
    assert _NAME.fullmatch(name)


@pytest.mark.parametrize(
    "name",
    [
        "张",
        "张三\n",
        "张\u200d三",
        "䷀䷁",
        "张䷀",
        "·张三",
        "张三·",
        "张··三",
        "张·",
        "···",
        "A----",
        "A  B",
        "A--B",
        "-AB",
        "张三 Li",
        "Zhang3",
        "张" * 31,
        "a" * 61,
        "⼭⼭",
        "ｚｈａｎｇ",
    ],
)
def test_other_text_is_not_a_real_name(name: str) -> None:
    assert not _NAME.fullmatch(name)


@settings(max_examples=100, deadline=None)
@given(st.text(min_size=2, max_size=8))
def test_a_real_name_never_holds_control_characters_or_digits(name: str) -> None:
    if _NAME.fullmatch(name):
        assert name.isprintable() and not any(c.isdigit() for c in name) and name == name.strip()


GOOD = NewStaffMember("new.operator", "New operator", STAFF_PASSWORD, "city_operator", ("330100",))


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"username": "admin\n"}, "staff.invalid_username"),
        ({"username": "Admin"}, "staff.invalid_username"),
        ({"username": "ab"}, "staff.invalid_username"),
        ({"display_name": " "}, "staff.invalid_display_name"),
        ({"display_name": "Ada\n"}, "staff.invalid_display_name"),
        ({"password": " " * 12}, "staff.weak_password"),
        ({"password": " " * 11 + "x" + " " * 11}, "staff.weak_password"),
        ({"password": "x" * 12}, "staff.weak_password"),
        ({"password": "abcde" * 4}, "staff.weak_password"),
        ({"password": "good password\x00"}, "staff.weak_password"),
        ({"password": "p" * 257}, "staff.weak_password"),
        ({"cities": ("330100\n",)}, "staff.invalid_scope"),
        ({"cities": ("３３０１００",)}, "staff.invalid_scope"),
        ({"cities": ("330100", "330100")}, "staff.invalid_scope"),
        ({"cities": tuple(f"{n:06d}" for n in range(110000, 110051))}, "staff.invalid_scope"),
        ({"role": "channel_admin", "cities": (), "channels": ("wechat", "wechat")}, "staff.invalid_scope"),
        ({"role": "channel_admin", "cities": (), "channels": ("douyin",)}, "staff.invalid_scope"),
    ],
)
def test_new_staff_members_are_checked_whoever_creates_them(change: dict, code: str) -> None:
    check_new_staff_member(GOOD)
    with pytest.raises(Invalid) as refused:
        check_new_staff_member(replace(GOOD, **change))
    assert refused.value.code == code


def test_staff_scope_channels_are_the_catalogue_channels() -> None:
    from city_services.models import CHANNELS
    from identity.staff import SCOPE_CHANNELS

    assert SCOPE_CHANNELS == CHANNELS


@pytest.mark.parametrize(
    ("reason", "cities", "code"),
    [
        ("  ", ("330100",), "staff.reason_required"),
        ("hired\n", ("330100",), "staff.reason_required"),
        ("hired", ("110100",), "staff.unknown_city"),
    ],
)
def test_adding_staff_needs_a_reason_and_served_cities_in_the_use_case(
    app: Flask, session: Session, reason: str, cities: tuple[str, ...], code: str
) -> None:
    admin = StaffMember(id=1, username="root", role="platform_admin", cities=[], channels=[])
    new = replace(GOOD, cities=cities)
    with pytest.raises(Invalid) as refused:
        add_staff_member(session, admin, new, reason=reason, now=NOW, served_cities={"330100", "440300"})
    assert refused.value.code == code
    assert session.scalars(select(StaffMember)).all() == []


def test_the_cli_holds_platform_admins_to_the_same_password_rules(app: Flask) -> None:
    runner = app.test_cli_runner()
    for password in (" " * 12, "aaaaaaaaaaaaaaa", "tab\tin the password"):
        result = runner.invoke(args=["create-platform-admin", "--username", "root", "--password", password])
        assert result.exit_code == 1, password
    assert (
        runner.invoke(args=["create-platform-admin", "--username", "root\n", "--password", STAFF_PASSWORD]).exit_code
        == 1
    )
