"""What a requester's message may carry to the owner: words about the car, never a way to reach a person."""

from __future__ import annotations

import re
import unicodedata

from identity.masking import redact

# Digits (of any script: full-width too) with a separator or two between them: 138 1234 5678, 0571·8888 6666.
_SPACED_DIGITS = re.compile(r"\d(?:[\s\-‐‑‒–—.·]{0,2}\d){6,}")
# A run this long left after the masks is a landline, a QQ number or a card: nothing an owner needs.
_LONG_RUN = re.compile(r"\d{7,}")


def contact_free(message: str) -> str:
    """The message with phone, ID and other long numbers masked, however they are spaced or written."""
    # A long run of digits in any script, spaced or not, becomes plain ASCII digits before the masks apply;
    # the words around it are left exactly as written.
    text = _SPACED_DIGITS.sub(
        lambda m: "".join(str(unicodedata.decimal(ch)) for ch in m.group(0) if ch.isdigit()), message
    )
    text = redact(text)
    return _LONG_RUN.sub(lambda m: "*" * len(m.group(0)), text)
