"""Reading a fund centre's answer: one that cannot be read, or refuses us for our own faults, is unavailable."""

from __future__ import annotations

import logging
from typing import Any

import requests

from errors import UpstreamUnavailable

log = logging.getLogger("citytiles.upstreams")


class Unreadable(Exception):
    """An answer that is not what the centre's dialect promises; the message names the field, never its value."""


def unavailable(system: str, operation: str, problem: str) -> UpstreamUnavailable:
    """Log why a centre's answer is unusable (no personal data) and say the service is unavailable."""
    log.error("unusable upstream answer", extra={"system": system, "operation": operation, "problem": problem})
    return UpstreamUnavailable("upstream.unavailable", "The fund centre cannot answer right now; please try later.")


def busy(retry_after: int = 30) -> UpstreamUnavailable:
    """The centre says it is busy: retry later."""
    return UpstreamUnavailable(
        "upstream.unavailable", "The fund centre is busy; please try again shortly.", retry_after=retry_after
    )


def json_object(response: requests.Response) -> dict[str, Any]:
    """The body as a JSON object, or Unreadable."""
    try:
        body = response.json()
    except ValueError:
        raise Unreadable("body is not JSON") from None
    if not isinstance(body, dict):
        raise Unreadable("body is not a JSON object")
    return body


def field(data: dict[str, Any], name: str, kind: type | tuple[type, ...]) -> Any:
    """data[name] of the given type (bool is never taken for an int), or Unreadable."""
    value = data.get(name)
    if isinstance(value, bool) and kind is not bool or not isinstance(value, kind):
        raise Unreadable(f"{name} missing or of the wrong type")
    return value
