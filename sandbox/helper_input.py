"""Reading /_sandbox/ helper input: one JSON object and typed fields, or a HelperError answered 400.

Every helper reads its input through these functions, so no JSON value of the wrong type, range or
alphabet gets past them into the sandbox's state, and none becomes a 500.
"""

from __future__ import annotations

import json
import math
import re
import unicodedata
from collections.abc import Collection
from collections.abc import Iterator
from collections.abc import Mapping
from contextlib import contextmanager
from typing import Any

from flask import request

INVALID_REQUEST = "sandbox.invalid_request"
TEXT_LIMIT = 64
# Control, format, surrogate, private-use and unassigned code points, and line/paragraph separators.
_UNPRINTABLE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})
# Braces would break Alipay's brace-counting response parsers when echoed back.
_BRACES = frozenset("{}")


class HelperError(Exception):
    """Bad helper input; answered 400 in the sandbox's error shape."""

    def __init__(self, message: str, details: dict[str, str] | None = None, code: str = INVALID_REQUEST) -> None:
        super().__init__(message)
        self.message, self.details, self.code = message, details or {}, code


def json_object(allowed: Collection[str]) -> dict[str, Any]:
    """The request body as a JSON object with no keys outside allowed."""
    # Requiring the JSON media type also keeps other origins' plain form posts from reaching the helpers.
    if not request.is_json:
        raise HelperError("the body must be JSON", {"body": "Content-Type: application/json"})
    try:
        body = json.loads(request.get_data(), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than the parser recurses
        raise HelperError("the body must be a JSON object", {"body": "not valid JSON"}) from None
    if not isinstance(body, dict):
        raise HelperError("the body must be a JSON object", {"body": "not a JSON object"})
    unknown = sorted(key for key in body if key not in allowed)
    if unknown:
        raise HelperError("unknown fields", dict.fromkeys(unknown, "not a field of this helper"))
    return body


def required_text(
    fields: Mapping[str, Any], key: str, *, pattern: re.Pattern[str] | None = None, limit: int = TEXT_LIMIT
) -> str:
    """A printable string field that must be present, matching pattern in full when given."""
    value = text(fields, key, pattern=pattern, limit=limit)
    if value is None:
        raise HelperError(f"{key} is required", {key: "required string"})
    return value


def text(
    fields: Mapping[str, Any], key: str, *, pattern: re.Pattern[str] | None = None, limit: int = TEXT_LIMIT
) -> str | None:
    """A printable string field, matching pattern in full when given; None when absent or null."""
    value = fields.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise HelperError(f"{key} must be a non-empty string", {key: "not a non-empty string"})
    problem = text_problem(value, limit)
    if problem is not None:
        raise HelperError(f"{key} is not acceptable text", {key: problem})
    if pattern is not None and not pattern.fullmatch(value):
        raise HelperError(f"{key} has the wrong format", {key: f"must match {pattern.pattern}"})
    return value


def text_problem(value: str, limit: int = TEXT_LIMIT) -> str | None:
    """Why value is not acceptable helper text, or None when it is."""
    if len(value) > limit:
        return f"at most {limit} characters"
    if value != value.strip():
        return "no leading or trailing whitespace"
    for character in value:
        if unicodedata.category(character) in _UNPRINTABLE_CATEGORIES or character in _BRACES:
            return "no braces, control or invisible characters"
        # Full-width, Arabic-Indic and other scripts' digits: no channel issues them.
        if unicodedata.category(character) == "Nd" and not character.isascii():
            return "digits must be ASCII 0-9"
    return None


def required_choice(fields: Mapping[str, Any], key: str, options: Collection[str]) -> str:
    """A string field that must be present and one of options."""
    value = choice(fields, key, options)
    if value is None:
        raise HelperError(f"{key} is required", {key: "one of " + ", ".join(options)})
    return value


def choice(fields: Mapping[str, Any], key: str, options: Collection[str]) -> str | None:
    """A string field that is one of options; None when absent or null."""
    value = fields.get(key)
    if value is None:
        return None
    # The type check comes first: a list or object is not hashable, so `in` could raise.
    if not isinstance(value, str) or value not in options:
        raise HelperError(f"{key} is not one of the choices", {key: "one of " + ", ".join(options)})
    return value


def whole_number(fields: Mapping[str, Any], key: str, *, low: int, high: int) -> int | None:
    """An integer field in [low, high] (not a boolean, not a float); None when absent or null."""
    value = fields.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise HelperError(f"{key} must be an integer", {key: f"an integer in [{low}, {high}]"})
    return value


def number(fields: Mapping[str, Any], key: str, *, default: float, low: float, high: float) -> float:
    """A finite number field in [low, high]; default when absent or null."""
    value = fields.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise HelperError(f"{key} must be a number", {key: f"a number in [{low}, {high}]"})
    if not (math.isfinite(value) and low <= value <= high):
        raise HelperError(f"{key} is out of range", {key: f"a number in [{low}, {high}]"})
    return float(value)


def flag(fields: Mapping[str, Any], key: str, *, default: bool = False) -> bool:
    """A boolean field; default when absent or null."""
    value = fields.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise HelperError(f"{key} must be a boolean", {key: "true or false"})
    return value


def nested_object(value: object, path: str, allowed: Collection[str]) -> dict[str, Any]:
    """A nested JSON object with no fields outside allowed (its errors are prefixed by within)."""
    if not isinstance(value, dict):
        raise HelperError(f"{path} must be an object", {"": "not a JSON object"})
    unknown = sorted(key for key in value if key not in allowed)
    if unknown:
        raise HelperError("unknown fields", dict.fromkeys(unknown, "not a field of this helper"))
    return value


@contextmanager
def within(path: str) -> Iterator[None]:
    """Name the nested field in the details of any HelperError raised inside: records[2].date."""
    try:
        yield
    except HelperError as error:
        details = {f"{path}.{key}".rstrip("."): reason for key, reason in error.details.items()}
        raise HelperError(error.message, details) from None


def error_body(code: str, message: str, details: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The sandbox's one error shape."""
    return {"error": {"code": code, "message": message, "details": dict(details or {})}}


def _refuse_constant(name: str) -> float:
    # Python's json reads NaN and Infinity, which are not JSON.
    raise ValueError(f"{name} is not JSON")
