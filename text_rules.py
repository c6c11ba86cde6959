"""What text must be to cross a boundary: matched whole, ASCII where digits are meant, no control characters.

Python's `$` also matches before a trailing newline and `\\d` takes the digits of every script, so
patterns here are written with explicit ASCII classes and only ever applied with `fullmatch`.
The schemas (app/schemas/strict.py) and the business rules both use these, so a value the API
refuses is refused as well when it comes from the seed file, the CLI or a channel.
"""

from __future__ import annotations

import re
import unicodedata

# Categories no text may hold unless a field names them in `allow`: control characters (Cc),
# invisible format characters such as bidi overrides and zero-width joiners (Cf), lone surrogates
# (Cs), and the Unicode line and paragraph separators (Zl, Zp).
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})
# A 6-digit administrative division code, as cities are keyed.
CITY_CODE = re.compile(r"[0-9]{6}")


def refused_characters(text: str, *, allow: str = "") -> list[str]:
    """The distinct characters of a text (as U+XXXX) that no field takes unless it allows them."""
    return [
        f"U+{ord(c):04X}"
        for c in dict.fromkeys(text)
        if c not in allow and unicodedata.category(c) in REFUSED_CATEGORIES
    ]


def text_problem(value: object, *, max_length: int, min_length: int = 1, allow: str = "") -> str | None:
    """Why a value is not acceptable free text (a string, not blank, bounded, no control characters), or None."""
    if not isinstance(value, str):
        return "Not text."
    refused = refused_characters(value, allow=allow)
    if refused:
        return f"Control or invisible characters are not allowed ({', '.join(refused[:5])})."
    if min_length > 0 and not value.strip():
        return "Must not be blank."
    if not min_length <= len(value) <= max_length:
        return f"Length must be between {min_length} and {max_length}."
    return None


def matches(pattern: re.Pattern[str], value: object) -> bool:
    """Whether a value is a string the pattern matches from its first character to its last."""
    return isinstance(value, str) and pattern.fullmatch(value) is not None
