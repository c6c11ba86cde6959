"""The check digit is defined for exactly 17 digits (GB 11643, ISO 7064 MOD 11-2)."""

from __future__ import annotations

import pytest

from identity.id_numbers import check_digit


@pytest.mark.parametrize("digits", ["", "1101051949123100", "110105194912310021"])
def test_the_check_digit_needs_exactly_17_digits(digits: str) -> None:
    with pytest.raises(ValueError):
        check_digit(digits)


@pytest.mark.parametrize(
    ("first_seventeen", "check"),
    [("11010519491231002", "X"), ("44052418800101001", "4"), ("33010219900101123", "4"), ("00000000000000000", "1")],
)
def test_known_check_digits(first_seventeen: str, check: str) -> None:
    assert check_digit(first_seventeen) == check


@pytest.mark.parametrize(
    ("id_number", "valid"),
    [
        ("110105194912320025", False),  # 32 December, with a matching check digit
        ("110105194902290029", False),  # 29 February 1949: not a leap year
        ("110105194802290021", True),  # 29 February 1948
        ("110105200002290021", True),  # 29 February 2000: a leap year, though a century
    ],
)
def test_the_whole_birth_date_is_checked(id_number: str, valid: bool) -> None:
    from identity.id_numbers import id_number_problem

    assert (id_number_problem(id_number) is None) is valid
