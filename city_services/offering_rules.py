"""Rules every offering setting must meet, whether it comes from the seed file or an operator."""

from __future__ import annotations

import re
from datetime import datetime
from datetime import time
from datetime import timedelta

from city_services.models import CHANNELS
from errors import Invalid
from text_rules import matches
from text_rules import text_problem

# Applied with fullmatch only, in ASCII: "08:00\n" or "０８:００" is not a time of day.
_CLOCK = re.compile(r"(?:[01][0-9]|2[0-3]):[0-5][0-9]")
_WEEKDAYS = re.compile(r"[1-7]{1,7}")
MAX_WINDOWS = 20
MAX_WINDOW_AHEAD = timedelta(days=366)
MAX_MESSAGE_LENGTH = 200


def check_channel(channel: str) -> None:
    """Refuse a channel citytiles does not serve."""
    if channel not in CHANNELS:
        raise Invalid("catalogue.unknown_channel", f"Unknown channel {channel!r}.", {"channel": list(CHANNELS)})


def check_hours(opens_at: str | None, closes_at: str | None, weekdays: str) -> None:
    """Refuse hours that are not HH:MM, that close before they open, or weekdays that are not 1–7, each once.

    Whatever passes here can be read back by hours_of: the same check guards every writer (API, seed file).
    """
    if (opens_at is None) != (closes_at is None):
        raise Invalid("catalogue.invalid_hours", "Give both opening and closing time, or neither for all day.")
    for clock in (opens_at, closes_at):
        if clock is not None and not matches(_CLOCK, clock):
            raise Invalid("catalogue.invalid_hours", f"{clock!r} is not a time of day as HH:MM.")
    if opens_at is not None and closes_at is not None and time.fromisoformat(closes_at) <= time.fromisoformat(opens_at):
        raise Invalid("catalogue.invalid_hours", "Closing time must be after opening time.")
    if not matches(_WEEKDAYS, weekdays) or len(set(weekdays)) != len(weekdays):
        raise Invalid("catalogue.invalid_hours", "Weekdays are the digits 1 (Monday) to 7 (Sunday), each once.")


def check_window(
    starts_at: datetime, ends_at: datetime, message_zh: str, message_en: str | None = None, *, now: datetime
) -> None:
    """Refuse a window that is over already, ends before it starts, lies years ahead, or has no readable notice."""
    if ends_at <= starts_at:
        raise Invalid("catalogue.invalid_maintenance_window", "A maintenance window must end after it starts.")
    if ends_at <= now:
        raise Invalid("catalogue.invalid_maintenance_window", "This maintenance window is already over.")
    # "Closed indefinitely" is disabling the service; a bounded window keeps every date computable.
    if ends_at - now > MAX_WINDOW_AHEAD or now - starts_at > MAX_WINDOW_AHEAD:
        raise Invalid(
            "catalogue.invalid_maintenance_window",
            "A maintenance window must lie within a year of now; disable the service to close it indefinitely.",
        )
    if text_problem(message_zh, max_length=MAX_MESSAGE_LENGTH):
        raise Invalid(
            "catalogue.invalid_maintenance_window",
            f"A maintenance window needs a message for residents: one line of at most {MAX_MESSAGE_LENGTH} characters.",
        )
    if message_en is not None and text_problem(message_en, max_length=MAX_MESSAGE_LENGTH, min_length=0):
        raise Invalid(
            "catalogue.invalid_maintenance_window",
            f"The English message is one line of at most {MAX_MESSAGE_LENGTH} characters.",
        )


def normalise_weekdays(weekdays: str) -> str:
    """Weekdays in ascending order, so equal sets compare equal."""
    return "".join(sorted(weekdays))
