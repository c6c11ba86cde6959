"""Reading a hospital platform's answers strictly: a field missing or of the wrong type is no answer at all."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import requests

from city_services.outpatient.provider import Hold
from errors import UpstreamUnavailable

log = logging.getLogger("citytiles.upstreams")


class Unreadable(Exception):
    """The answer is not in the shape the platform documents."""


def json_of(response: requests.Response) -> Any:
    """The body as JSON; HTML from a proxy or a truncated body is unreadable."""
    try:
        return response.json()
    except ValueError:
        raise Unreadable("body is not JSON") from None


def mapping(value: object) -> dict[str, Any]:
    """A JSON object."""
    if not isinstance(value, dict):
        raise Unreadable("expected an object")
    return value


def items(value: object) -> list[Any]:
    """A JSON array."""
    if not isinstance(value, list):
        raise Unreadable("expected an array")
    return value


# The longest identifier or short text we keep (our columns' width): a longer one is not an answer we can store.
LONGEST_TEXT = 64
# Hospital and department names run longer ("浙江大学医学院附属第一医院（庆春院区）").
LONGEST_NAME = 128
# No fee or count a hospital could mean reaches this (ten million yuan in fen; a 32-bit column holds it).
LARGEST_NUMBER = 10**9


def text(value: dict[str, Any], key: str, longest: int = LONGEST_TEXT) -> str:
    """A non-empty string field, no longer than we keep."""
    found = value.get(key)
    if not isinstance(found, str) or not found or len(found) > longest:
        raise Unreadable(f"{key} is not text we can keep")
    return found


def optional_text(value: dict[str, Any], key: str, longest: int = LONGEST_TEXT) -> str | None:
    """A string field that may be absent or null, no longer than we keep."""
    found = value.get(key)
    if found is None:
        return None
    if not isinstance(found, str) or len(found) > longest:
        raise Unreadable(f"{key} is not text we can keep")
    return found


def whole(value: dict[str, Any], key: str) -> int:
    """A whole number field, not negative (fees, places)."""
    found = value.get(key)
    if isinstance(found, bool) or not isinstance(found, int) or not 0 <= found < LARGEST_NUMBER:
        raise Unreadable(f"{key} is not a whole number")
    return found


def moment(raw: str, *, tz: Any = None) -> datetime:
    """An ISO time with an offset (or, given tz, a local time there)."""
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise Unreadable("not a time") from None
    if parsed.tzinfo is None:
        if tz is None:
            raise Unreadable("a time without its offset")
        parsed = parsed.replace(tzinfo=tz)
    return parsed


def record_of(hold_id: str, found: Hold) -> Hold:
    """The hold read back, which must be the one asked for: a record of another is no answer about this one."""
    if found.hold_id != hold_id:
        raise Unreadable("a record of another hold")
    return found


@contextmanager
def reading(connection: str, operation: str) -> Iterator[None]:
    """Turn an unreadable answer into 'unavailable', logging which call (never the answer: it may hold names)."""
    try:
        yield
    except Unreadable as why:
        log.warning(
            "upstream answer unreadable", extra={"connection": connection, "operation": operation, "problem": str(why)}
        )
        raise UpstreamUnavailable(
            "upstream.unavailable", "The hospital platform gave an answer we cannot read."
        ) from None
