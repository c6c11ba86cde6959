"""Resident identity card numbers (GB 11643-1999): format, birth date and check digit."""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from datetime import datetime
from zoneinfo import ZoneInfo

# ASCII digits only: \d would also take full-width and other scripts' digits. Applied with fullmatch,
# since `$` would also take a trailing newline.
_SHAPE = re.compile(r"[0-9]{17}[0-9X]")
# The first two digits: a province-level division (GB/T 2260), Taiwan (71), or the residence permits
# of Hong Kong (81), Macau (82) and Taiwan (83) residents, which share this format.
PROVINCE_CODES = frozenset(
    {
        *("11", "12", "13", "14", "15"),
        *("21", "22", "23"),
        *("31", "32", "33", "34", "35", "36", "37"),
        *("41", "42", "43", "44", "45", "46"),
        *("50", "51", "52", "53", "54"),
        *("61", "62", "63", "64", "65"),
        *("71", "81", "82", "83"),
    }
)
EARLIEST_BIRTH_DATE = date(1900, 1, 1)
_CHINA = ZoneInfo("Asia/Shanghai")
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK_CHARACTERS = "10X98765432"


def check_digit(first_seventeen: str) -> str:
    """The check character for the first 17 digits (ISO 7064 MOD 11-2)."""
    total = sum(int(digit) * weight for digit, weight in zip(first_seventeen, _WEIGHTS, strict=True))
    return _CHECK_CHARACTERS[total % 11]


def normalise_id_number(text: str) -> str:
    """Trim, fold full-width characters (as Chinese keyboards type them) to ASCII, upper-case the x."""
    return unicodedata.normalize("NFKC", text).strip().upper()


def id_number_problem(id_number: str, *, now: datetime | None = None) -> str | None:
    """Why an 18-character ID number is not valid, or None; births after `now` (default: the wall clock) are not."""
    if not isinstance(id_number, str) or _SHAPE.fullmatch(id_number) is None:
        return "An ID number is 17 digits followed by a digit or X."
    if id_number[:2] not in PROVINCE_CODES:
        return "The ID number does not start with a known province code."
    try:
        born = date(int(id_number[6:10]), int(id_number[10:12]), int(id_number[12:14]))
    except ValueError:
        return "The ID number's birth date is not a real date."
    today = (now or datetime.now(_CHINA)).astimezone(_CHINA).date()
    if not EARLIEST_BIRTH_DATE <= born <= today:
        return "The ID number's birth date is not plausible (before 1900 or in the future)."
    if check_digit(id_number[:17]) != id_number[17]:
        return "The ID number's check digit does not match; please check it for typing errors."
    return None
