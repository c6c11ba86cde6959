"""Rules every offering setting must meet, whether it comes from the seed file or an operator."""

from __future__ import annotations

import math
import re
from datetime import datetime
from datetime import time
from datetime import timedelta
from typing import Any

from city_services.models import CHANNELS
from city_services.upstreams import UPSTREAM_ADAPTERS
from config.settings import is_public_https
from errors import Invalid

_CLOCK = re.compile(r"^([01]\d|2[0-3]):[0-5]\d$")
_WEEKDAYS = re.compile(r"^[1-7]{1,7}$")
MAX_WINDOWS = 20
MAX_WINDOW_AHEAD = timedelta(days=366)


def check_channel(channel: str) -> None:
    """Refuse a channel citytiles does not serve."""
    if channel not in CHANNELS:
        raise Invalid("catalogue.unknown_channel", f"Unknown channel {channel!r}.", {"channel": list(CHANNELS)})


def check_upstream(service: str, adapter: str, params: dict[str, Any], *, require_public: bool = False) -> None:
    """Refuse an upstream adapter the service has no module for, or parameters that are not a flat mapping."""
    known = UPSTREAM_ADAPTERS.get(service, ())
    if adapter not in known:
        raise Invalid(
            "catalogue.unknown_upstream",
            f"{service} has no upstream adapter named {adapter!r}.",
            {"upstream": list(known)},
        )
    if any(not isinstance(v, (str, int, float, bool)) for v in params.values()):
        raise Invalid("catalogue.invalid_upstream_params", "Upstream parameters must be plain values.")
    if any(isinstance(v, float) and not math.isfinite(v) for v in params.values()):
        raise Invalid("catalogue.invalid_upstream_params", "Upstream parameters must be finite numbers.")
    if require_public:
        if adapter == "fake":
            raise Invalid("catalogue.unsafe_upstream", "The fake upstream adapter is not allowed in production.")
        base_url = params.get("base_url")
        if isinstance(base_url, str) and not is_public_https(base_url):
            raise Invalid("catalogue.unsafe_upstream", "Upstream base_url must be a public HTTPS URL in production.")


def check_hours(opens_at: str | None, closes_at: str | None, weekdays: str) -> None:
    """Refuse hours that are not HH:MM, that close before they open, or weekdays that are not 1–7."""
    if (opens_at is None) != (closes_at is None):
        raise Invalid("catalogue.invalid_hours", "Give both opening and closing time, or neither for all day.")
    for clock in (opens_at, closes_at):
        if clock is not None and not _CLOCK.match(clock):
            raise Invalid("catalogue.invalid_hours", f"{clock!r} is not a time of day as HH:MM.")
    if opens_at is not None and closes_at is not None and time.fromisoformat(closes_at) <= time.fromisoformat(opens_at):
        raise Invalid("catalogue.invalid_hours", "Closing time must be after opening time.")
    if not _WEEKDAYS.match(weekdays) or len(set(weekdays)) != len(weekdays):
        raise Invalid("catalogue.invalid_hours", "Weekdays are the digits 1 (Monday) to 7 (Sunday), each once.")


def check_window(starts_at: datetime, ends_at: datetime, message_zh: str, *, now: datetime) -> None:
    """Refuse a window that is over already, ends before it starts, lies years ahead, or has no notice."""
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
    if not message_zh.strip():
        raise Invalid("catalogue.invalid_maintenance_window", "A maintenance window needs a message for residents.")


def normalise_weekdays(weekdays: str) -> str:
    """Weekdays in ascending order, so equal sets compare equal."""
    return "".join(sorted(weekdays))
