"""How personal data is shown: enough to recognise, never enough to use."""

from __future__ import annotations

import re

_ID_NUMBER = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])|(?<!\d)(\d{15})(?!\d)")
_MOBILE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)")


def mask_id_number(id_number: str) -> str:
    """Keep the first four and last four characters: 3301**********123X."""
    return id_number[:4] + "*" * (len(id_number) - 8) + id_number[-4:]


def mask_phone(phone: str) -> str:
    """Keep the prefix and the last four digits: 138****5678."""
    return phone[:3] + "*" * (len(phone) - 7) + phone[-4:] if len(phone) >= 8 else "*" * len(phone)


def mask_account_number(number: str) -> str:
    """Keep the last four characters: ********0001."""
    return "*" * max(len(number) - 4, 4) + number[-4:] if len(number) > 4 else "*" * len(number)


def mask_name(name: str) -> str:
    """Keep the first character: 张**."""
    return name[:1] + "*" * max(len(name) - 1, 1)


def redact(text: str) -> str:
    """Mask anything in free text that looks like an ID number or a mobile number (log defence in depth)."""
    text = _ID_NUMBER.sub(lambda m: mask_id_number(m.group(0)), text)
    return _MOBILE.sub(lambda m: mask_phone(m.group(0)), text)
