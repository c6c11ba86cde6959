"""What a resident sees of an offering right now: derived from its settings and the clock, never stored."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from zoneinfo import ZoneInfo

CITY_TIME = ZoneInfo("Asia/Shanghai")
WEEKDAY_NAMES_ZH = {1: "周一", 2: "周二", 3: "周三", 4: "周四", 5: "周五", 6: "周六", 7: "周日"}
WEEKDAY_NAMES_EN = {1: "Mon", 2: "Tue", 3: "Wed", 4: "Thu", 5: "Fri", 6: "Sat", 7: "Sun"}


@dataclass(frozen=True)
class Window:
    """A maintenance window in UTC with its notice for residents."""

    starts_at: datetime
    ends_at: datetime
    message_zh: str
    message_en: str | None


@dataclass(frozen=True)
class Hours:
    """Local opening hours on the listed ISO weekdays; no opening time means around the clock."""

    opens_at: time | None
    closes_at: time | None
    weekdays: frozenset[int]

    def open_at(self, moment: datetime) -> bool:
        """Whether the service is open at an aware moment."""
        local = moment.astimezone(CITY_TIME)
        if local.isoweekday() not in self.weekdays:
            return False
        if self.opens_at is None or self.closes_at is None:
            return True
        return self.opens_at <= local.time() < self.closes_at

    def next_opening(self, moment: datetime) -> datetime | None:
        """The first moment at or after the given one when the service is open."""
        if self.open_at(moment):
            return moment
        local = moment.astimezone(CITY_TIME)
        for days_ahead in range(8):
            day: date = local.date() + timedelta(days=days_ahead)
            if day.isoweekday() not in self.weekdays:
                continue
            opening = datetime.combine(day, self.opens_at or time(0, 0), CITY_TIME)
            if opening > local:
                return opening.astimezone(moment.tzinfo)
        return None

    def describe(self) -> dict[str, str]:
        """The hours in words, in both languages."""
        days_zh, days_en = _describe_weekdays(self.weekdays)
        if self.opens_at is None or self.closes_at is None:
            return {"zh-CN": f"{days_zh}全天", "en": f"{days_en}, all day"}
        span = f"{self.opens_at:%H:%M}-{self.closes_at:%H:%M}"
        return {"zh-CN": f"{days_zh} {span}", "en": f"{days_en} {span}"}


@dataclass(frozen=True)
class Availability:
    """A tile's state, its notice in each language, and when it is expected back."""

    state: str
    message: dict[str, str] | None = None
    back_at: datetime | None = None


def availability(enabled: bool, hours: Hours, windows: tuple[Window, ...], now: datetime) -> Availability:
    """Derive available, maintenance, off_hours or unavailable for one offering at one moment."""
    if not enabled:
        return Availability(
            "unavailable",
            {"zh-CN": "该服务在本市暂未开通", "en": "This service is not offered here yet."},
        )
    window = _window_at(windows, now)
    if window is not None:
        back_at = _next_usable(hours, windows, window.ends_at)
        return Availability(
            "maintenance", {"zh-CN": window.message_zh, "en": window.message_en or window.message_zh}, back_at
        )
    if not hours.open_at(now):
        back_at = _next_usable(hours, windows, now)
        described = hours.describe()
        return Availability(
            "off_hours",
            {"zh-CN": f"该服务办理时间为{described['zh-CN']}", "en": f"Open {described['en']}."},
            back_at,
        )
    return Availability("available")


DEGRADED = Availability(
    "degraded",
    {
        "zh-CN": "该服务所连接的系统暂时无法访问，恢复后将自动开放，请稍后再试",
        "en": "The city's system behind this service cannot be reached right now; please try again later.",
    },
)


def with_upstream(base: Availability, upstream_open: bool) -> Availability:
    """An otherwise available service whose upstream's breaker is open shows as degraded."""
    return DEGRADED if upstream_open and base.state == "available" else base


def _window_at(windows: tuple[Window, ...], moment: datetime) -> Window | None:
    return next((w for w in windows if w.starts_at <= moment < w.ends_at), None)


def _next_usable(hours: Hours, windows: tuple[Window, ...], moment: datetime) -> datetime | None:
    """The first moment from here on that is inside opening hours and outside every window."""
    candidate: datetime | None = moment
    try:
        # Each step moves past one window or one closed spell; the bound guards against odd data.
        for _ in range(len(windows) * 2 + 16):
            if candidate is None:
                return None
            window = _window_at(windows, candidate)
            if window is not None:
                candidate = window.ends_at
                continue
            opening = hours.next_opening(candidate)
            if opening == candidate:
                return candidate
            candidate = opening
    except OverflowError:
        pass  # a date past year 9999: "not known" is the honest answer
    return None


def _describe_weekdays(weekdays: frozenset[int]) -> tuple[str, str]:
    ordered = sorted(weekdays)
    if ordered == [1, 2, 3, 4, 5, 6, 7]:
        return "每天", "Every day"
    if ordered == [1, 2, 3, 4, 5]:
        return "周一至周五", "Mon-Fri"
    return "、".join(WEEKDAY_NAMES_ZH[d] for d in ordered), ", ".join(WEEKDAY_NAMES_EN[d] for d in ordered)


def next_change(enabled: bool, hours: Hours, windows: tuple[Window, ...], now: datetime) -> datetime | None:
    """The first moment after `now` at which this offering's state (or its notice) may change; None if never.

    It may name a moment where nothing changes (every local midnight, say); never one too late.
    """
    if not enabled:
        return None
    today = now.astimezone(CITY_TIME).date()
    # Hours change nothing between today's opening, today's closing and the next local midnight.
    candidates = [datetime.combine(today + timedelta(days=1), time(0, 0), CITY_TIME)]
    candidates += [datetime.combine(today, t, CITY_TIME) for t in (hours.opens_at, hours.closes_at) if t is not None]
    candidates += [moment for w in windows for moment in (w.starts_at, w.ends_at)]
    return min((moment for moment in candidates if moment > now), default=None)
