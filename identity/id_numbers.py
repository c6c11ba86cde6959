"""Resident identity card numbers (GB 11643-1999): format, birth date and check digit."""

from __future__ import annotations

import re
import unicodedata
from datetime import date

# ASCII digits only: \d would also take full-width and other scripts' digits.
_SHAPE = re.compile(r"^[0-9]{17}[0-9X]$")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def check_digit(first_seventeen: str) -> str:
    """The check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_seventeen, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def normalise_id_number(text: str) -> str:
    """Trim, fold full-width characters (as Chinese keyboards type them) to ASCII, upper-case the x."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def id_number_problem(id_number: str) -> str | None:
    """Why an 18-character ID number is not valid, or None when it is."""
    if not _SHAPE.match(id_number):
        return "An ID number is 17 digits followed by a digit or X."
    try:
        date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "The ID number's birth date is not a real date."
    if check_digit(id_number[:17]) != id_number[17]:
        return "The ID number's check digit does not match; please check it for typing errors."
    return None
