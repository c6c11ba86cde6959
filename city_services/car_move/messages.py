"""What a requester's message may carry to the owner: words about the car, never a way to reach a person."""

from __future__ import annotations

import re
import unicodedata

from identity.masking import redact

# Between the digits of one number: a space (full-width too), a dash or a dot, at most two in a row.
_SEPARATORS = frozenset(" \t\u3000-‐‑‒–—.·")
_SHORTEST_NUMBER = 7
# A run this long left after the masks is a landline, a QQ number or a card: nothing an owner needs.
_LONG_RUN = re.compile(r"[0-9]{7,}")


def contact_free(message: str) -> str:
    """The message with phone, ID and other long numbers masked, however they are spaced or written."""
    return _LONG_RUN.sub(lambda m: "*" * len(m.group(0)), redact(_plain_numbers(message)))


def _is_digit(char: str) -> bool:
    # Every script's digits on purpose: a number written in full-width or Arabic-Indic digits still reaches a person.
    return unicodedata.category(char) == "Nd"


def _plain_numbers(text: str) -> str:
    """Long runs of digits of any script, spaced or not, as plain ASCII digits; everything else as written."""
    out: list[str] = []
    start = 0
    while start < len(text):
        if not _is_digit(text[start]):
            out.append(text[start])
            start += 1
            continue
        digits: list[str] = []
        end = cursor = start
        while cursor < len(text):
            if _is_digit(text[cursor]):
                digits.append(str(unicodedata.digit(text[cursor])))
                end = cursor = cursor + 1
                continue
            gap = cursor
            while gap < len(text) and gap - cursor < 2 and text[gap] in _SEPARATORS:
                gap += 1
            if gap == cursor or gap == len(text) or not _is_digit(text[gap]):
                break
            cursor = gap
        out.append("".join(digits) if len(digits) >= _SHORTEST_NUMBER else text[start:end])
        start = end
    return "".join(out)
