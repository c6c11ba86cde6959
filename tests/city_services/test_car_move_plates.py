"""Plates are read whole (GA 36 civilian plates) and shown masked."""

from __future__ import annotations

import pytest

from city_services.car_move.plates import PROVINCES
from city_services.car_move.plates import mask_plate
from city_services.car_move.plates import read_plate
from errors import Invalid


@pytest.mark.parametrize("province", list(PROVINCES))
def test_every_province_abbreviation_starts_a_plate(province: str) -> None:
    assert read_plate(f"{province}B12345") == f"{province}B12345"


@pytest.mark.parametrize(
    ("raw", "plate"),
    [
        ("浙A12345", "浙A12345"),
        ("浙a1234x", "浙A1234X"),
        (" 浙A·12345 ", "浙A12345"),
        ("浙A 123 45", "浙A12345"),
        ("浙AD12345", "浙AD12345"),
        ("浙AFA1234", "浙AFA1234"),
        ("粤B12345D", "粤B12345D"),
    ],
)
def test_seven_and_eight_character_plates(raw: str, plate: str) -> None:
    assert read_plate(raw) == plate


@pytest.mark.parametrize(
    "raw",
    [
        "浙I12345",
        "浙A1O345",
        "浙A1234",
        "浙A123456",
        "浙AD1234A",
        "浙A1234DF",
        "港A12345",
        "澳A12345",
        "AA12345",
        "浙A12345挂",
        "浙Ａ12345",
        "",
    ],
)
def test_anything_else_is_invalid(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        read_plate(raw)
    assert refused.value.code == "car_move.invalid_plate"
    assert refused.value.details == {"fields": {"plate": ["Not a valid plate, e.g. 浙A12345 or 浙AD12345."]}}


def test_masks_keep_the_office_and_last_two() -> None:
    assert (mask_plate("浙A12345"), mask_plate("浙AD12345")) == ("浙A***45", "浙A****45")
