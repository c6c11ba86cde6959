"""The channels' clocks: both write Beijing time at the edge; inside, times are aware UTC datetimes."""

from __future__ import annotations

import re
from datetime import UTC
from datetime import datetime
from datetime import timedelta
from datetime import timezone

BEIJING = timezone(timedelta(hours=8), "Asia/Shanghai")
# Applied with fullmatch: WeChat Pay's RFC 3339 (2018-06-08T10:34:56+08:00) and Alipay's
# "2018-06-08 10:34:56" (notifications add milliseconds to some times: ".123").
_RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,6})?(Z|[+-][0-9]{2}:[0-9]{2})")
_ALIPAY_TIME = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{3})?")


def rfc3339(at: datetime) -> str:
    """A moment as WeChat Pay reads it: Beijing time with its offset, to the second."""
    return at.astimezone(BEIJING).isoformat(timespec="seconds")


def read_rfc3339(text: object) -> datetime | None:
    """A WeChat Pay time as aware UTC; None for anything else."""
    if not isinstance(text, str) or not _RFC3339.fullmatch(text):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)
    except ValueError:  # a well-shaped but impossible date, such as February 30th
        return None


def alipay_time(at: datetime) -> str:
    """A moment as Alipay reads it: Beijing wall-clock time, "yyyy-MM-dd HH:mm:ss"."""
    return at.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M:%S")


def read_alipay_time(text: object) -> datetime | None:
    """An Alipay time (Beijing wall clock) as aware UTC; None for anything else."""
    if not isinstance(text, str) or not _ALIPAY_TIME.fullmatch(text):
        return None
    try:
        moment = datetime.strptime(text[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return moment.replace(tzinfo=BEIJING).astimezone(UTC) + timedelta(milliseconds=int(text[20:] or 0))
