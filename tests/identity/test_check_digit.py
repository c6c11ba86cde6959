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
