"""ID number checks (GB 11643) and masking."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from datetime import timedelta

import pytest

from identity.id_numbers import check_digit
from identity.id_numbers import id_number_problem
from identity.masking import mask_id_number
from identity.masking import mask_name
from identity.masking import mask_phone
from identity.masking import redact


@pytest.mark.parametrize("valid", ["11010519491231002X", "440524198001010013", "330102199001011234"])
def test_valid_numbers(valid: str) -> None:
    assert id_number_problem(valid) is None


@pytest.mark.parametrize(
    ("invalid", "why"),
    [
        ("110105194912310021", "check digit"),
        ("11010519491331002X", "birth date"),
        ("11010519490230002X", "birth date"),
        ("1101051949123100", "17 digits"),
        ("11010519491231002Y", "17 digits"),
    ],
)
def test_invalid_numbers_say_why(invalid: str, why: str) -> None:
    assert why in (id_number_problem(invalid) or "")


def test_check_digit_uses_x_for_ten() -> None:
    assert check_digit("11010519491231002") == "X"


def test_masks() -> None:
    assert mask_id_number("330102199001011234") == "3301**********1234"
    assert mask_phone("13812345678") == "138****5678"
    assert mask_name("张三") == "张*" and mask_name("欧阳娜娜") == "欧***"


def test_redact_masks_numbers_inside_text() -> None:
    assert redact("id=330102199001011234&p=13812345678") == "id=3301**********1234&p=138****5678"
    assert redact("order 20261122000123456789") == "order 20261122000123456789"


def test_full_width_digits_fold_to_the_same_number_and_other_scripts_are_refused() -> None:
    from identity.id_numbers import normalise_id_number

    assert normalise_id_number(" １１０１０５１９４９１２３１００２ｘ ") == "11010519491231002X"
    assert id_number_problem(normalise_id_number("١١٠١٠٥١٩٤٩١٢٣١٠٠٢X")) is not None


def test_a_birth_date_is_in_the_future_by_the_calendar_in_china() -> None:
    # 01:00 on 24 November in Beijing is still 23 November in UTC: someone born that day is born today.
    first = "11010520261124123"
    born_today = first + check_digit(first)
    just_after_midnight_in_china = datetime(2026, 11, 23, 17, 0, tzinfo=UTC)
    assert id_number_problem(born_today, now=just_after_midnight_in_china) is None
    assert id_number_problem(born_today, now=just_after_midnight_in_china - timedelta(hours=2)) is not None
