"""The strict fields and the text rules under them, by example and by property."""

from __future__ import annotations

import unicodedata
from datetime import UTC
from datetime import date
from datetime import datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import settings
from hypothesis import strategies as st
from marshmallow import Schema
from marshmallow import ValidationError
from marshmallow import fields

from app.schemas.strict import Distinct
from app.schemas.strict import PlainValue
from app.schemas.strict import StrictAwareDateTime
from app.schemas.strict import StrictDate
from app.schemas.strict import StrictInteger
from app.schemas.strict import StrictText
from text_rules import REFUSED_CATEGORIES
from text_rules import refused_characters
from text_rules import text_problem


class Sample(Schema):
    city = StrictText(max_length=6, pattern=r"\d{6}")
    note = StrictText(max_length=20)
    free = StrictText(max_length=20, blank=True, min_length=0)
    lines = StrictText(max_length=20, allow="\n")
    count = StrictInteger()
    at = StrictAwareDateTime()
    day = StrictDate()
    value = PlainValue(max_length=10)
    codes = fields.List(StrictText(max_length=3), validate=Distinct())


def load(**data: Any) -> dict[str, Any]:
    return Sample().load(data)


def refused(**data: Any) -> None:
    with pytest.raises(ValidationError):
        load(**data)


@pytest.mark.parametrize(
    "city", ["330100\n", "330100\r\n", " 330100", "３３０１００", "٣٣٠١٠٠", "33010", "3301000", "330100\x00"]
)
def test_patterns_match_the_whole_value_in_ascii_even_when_written_with_backslash_d(city: str) -> None:
    refused(city=city)


def test_a_matching_value_loads_as_sent() -> None:
    assert load(city="330100", note="杭州 ok", count=5, codes=["a", "b"]) == {
        "city": "330100",
        "note": "杭州 ok",
        "count": 5,
        "codes": ["a", "b"],
    }


@pytest.mark.parametrize(
    "note", ["a\nb", "tab\there", "\u202eevil", "zero\u200bwidth", "bom\ufeff", "line\u2028sep", "del\x7f", "c1\x85"]
)
def test_control_and_invisible_characters_are_refused_by_default(note: str) -> None:
    refused(note=note)


def test_a_field_may_allow_named_characters_and_blank_text() -> None:
    assert load(lines="one\ntwo", free="  ")["lines"] == "one\ntwo"
    refused(lines="one\rtwo")
    refused(note="   ")
    refused(note="")


@pytest.mark.parametrize("count", ["５", " 5", "5\n", "5.0", 5.0, True, "0x10", "1_000", "", None])
def test_integers_are_json_integers_or_ascii_digits(count: object) -> None:
    refused(count=count)


def test_integers_from_query_strings_load() -> None:
    assert load(count="-12")["count"] == -12 and load(count=7)["count"] == 7


@pytest.mark.parametrize(
    "at", ["2026-11-18T10:00:00+08:00\n", "２０２６-11-18T10:00:00+08:00", "2026-11-18T10:00:00+08:00 ", 1763430000]
)
def test_date_times_are_ascii_iso_8601_and_nothing_after(at: object) -> None:
    refused(at=at)


@pytest.mark.parametrize(
    "day", ["2026-11-18\n", "２０２６-11-18", "2026-11-18 ", "2026-02-30", "2026-11-18T00:00", 20261118]
)
def test_days_are_ascii_real_calendar_days_and_nothing_after(day: object) -> None:
    refused(day=day)


def test_a_day_loads_as_a_date() -> None:
    assert load(day="2026-11-18")["day"] == date(2026, 11, 18)


def test_a_date_time_with_its_offset_loads() -> None:
    assert load(at="2026-11-18T10:00:00+08:00")["at"] == datetime(2026, 11, 18, 2, tzinfo=UTC)


@pytest.mark.parametrize("value", ["a\nb", "x" * 11, float("nan"), float("inf"), [1], {"a": 1}, None])
def test_plain_values_are_flat_finite_and_clean(value: object) -> None:
    refused(value=value)


def test_lists_may_refuse_repeats() -> None:
    refused(codes=["a", "a"])


def test_every_refused_category_is_refused_and_every_other_is_not() -> None:
    for code in range(0x10000):
        character = chr(code)
        refused_here = bool(refused_characters(character))
        assert refused_here == (unicodedata.category(character) in REFUSED_CATEGORIES), hex(code)


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=15), st.characters(categories=["Cc", "Cf", "Zl", "Zp"]), st.text(max_size=4))
def test_text_holding_any_refused_character_never_loads(before: str, bad: str, after: str) -> None:
    assert text_problem(before + bad + after, max_length=100) is not None
    refused(note=(before + bad + after)[-20:])


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[0-9]{6}", fullmatch=True), st.sampled_from(["\n", "\r", " ", "\t", "0", "a"]))
def test_a_valid_value_with_anything_appended_is_refused(city: str, suffix: str) -> None:
    assert load(city=city)["city"] == city
    refused(city=city + suffix)
