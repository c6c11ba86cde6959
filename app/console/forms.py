"""Reading what staff type into console forms into the values the use-cases take; the rules stay in the use-cases."""

from __future__ import annotations

import re
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from decimal import Decimal
from decimal import InvalidOperation

from flask import request

from city_services.availability import CITY_TIME
from errors import Invalid

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
_YUAN = re.compile(r"[0-9]{1,8}(?:\.[0-9]{1,2})?", re.ASCII)
_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", re.ASCII)
YUAN_EXPECTED = "Type an amount in yuan with at most two decimals, such as 12.50."


def text(name: str) -> str:
    """A text field as typed, outer spaces removed."""
    return request.form.get(name, "").strip()


def optional_text(name: str) -> str | None:
    """A text field, or None when left empty."""
    return text(name) or None


def local_moment(value: str, what: str) -> datetime:
    """A `datetime-local` value, read as China time (every city served keeps it)."""
    try:
        return datetime.fromisoformat(value).replace(tzinfo=CITY_TIME)
    except ValueError:
        raise Invalid("request.invalid", f"{what}: use a date and time such as 2026-11-18T22:00.") from None


def calendar_day(value: str | None, what: str) -> date | None:
    """A `date` value (YYYY-MM-DD in ASCII digits), or None when left empty."""
    if not value:
        return None
    # date.fromisoformat takes other digits and shapes too (２０２６, 20261118); a form sends this one.
    if not _DAY.fullmatch(value):
        raise Invalid("request.invalid", f"{what}: use a date such as 2026-11-18.")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise Invalid("request.invalid", f"{what}: use a date such as 2026-11-18.") from None


def local_day(value: str | None, what: str, *, end: bool = False) -> datetime | None:
    """A `date` value as the moment its day starts in China time (or the next day starts, for an inclusive end)."""
    day = calendar_day(value, what)
    if day is None:
        return None
    if end:
        day += timedelta(days=1)
    return datetime.combine(day, time(), tzinfo=CITY_TIME)


def optional_day(value: str, what: str) -> date | None:
    """A `date` value (YYYY-MM-DD), or None when left empty."""
    if not value:
        return None
    try:
        if _DAY.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:
        pass
    raise Invalid("request.invalid", f"{what}: use a date such as 2026-11-18.")


def fen_from_yuan(value: str) -> int:
    """An amount typed in yuan (ASCII digits, at most two decimals) as whole fen, exactly: no floats on the way."""
    if not _YUAN.fullmatch(value):
        raise Invalid("billing.refund_amount_invalid", YUAN_EXPECTED, {"amount": "yuan"})
    try:
        return int(Decimal(value) * 100)
    except InvalidOperation:
        raise Invalid("billing.refund_amount_invalid", YUAN_EXPECTED, {"amount": "yuan"}) from None
