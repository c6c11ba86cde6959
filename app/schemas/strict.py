"""Fields that take JSON's types as they are, without coercion, and text only as the rules in text_rules allow.

Every loaded field of every request schema is one of these (tests/app/test_strict_schemas.py walks the
routes to make sure): plain `fields.String` takes a trailing newline, a bidi override or a NUL, and
`validate.Regexp` only anchors at the start.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate

from text_rules import refused_characters

_WHOLE_NUMBER = re.compile(r"-?[0-9]{1,18}")
# ISO 8601 as JSON senders write it; the parser behind AwareDateTime takes a trailing newline and
# any script's digits, so the shape is checked whole first.
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(?::[0-9]{2}(?:\.[0-9]{1,6})?)?(?:Z|[+-][0-9]{2}(?::?[0-9]{2})?)?"
)
_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


class StrictBoolean(fields.Boolean):
    """Only true or false: "off", 0 or "yes" are type errors, not guesses."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean; send true or false.")
        return value


class StrictText(fields.String):
    """Text as sent: bounded, never blank unless allowed, no control characters, and matched whole.

    :param pattern: a regular expression the whole value must match; compiled with re.ASCII, so
        `\\d` and `\\w` mean ASCII digits and word characters only.
    :param allow: control or invisible characters this field does take (e.g. "\\n" for a multi-line text).
    :param blank: whether an empty or all-whitespace value is acceptable.
    """

    def __init__(
        self,
        *,
        max_length: int,
        min_length: int = 1,
        pattern: str | None = None,
        pattern_error: str | None = None,
        allow: str = "",
        blank: bool = False,
        validate: Any = None,
        metadata: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        self.pattern = re.compile(pattern, re.ASCII) if pattern is not None else None
        self.pattern_error = pattern_error or "Not in the expected format."
        self.allow = allow
        self.blank = blank
        validators: list[Any] = [_length(min_length, max_length)]
        if validate is not None:
            validators.extend(validate if isinstance(validate, Iterable) else [validate])
        described = dict(metadata or {})
        if pattern is not None:
            # OpenAPI patterns are ECMAScript, where `$` ends the string.
            described.setdefault("pattern", f"^(?:{pattern})$")
        super().__init__(validate=validators, metadata=described, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> str:
        if not isinstance(value, str):
            raise ValidationError("Not a valid string.")
        refused = refused_characters(value, allow=self.allow)
        if refused:
            raise ValidationError(f"Control or invisible characters are not allowed ({', '.join(refused[:5])}).")
        if not self.blank and not value.strip():
            raise ValidationError("Must not be blank.")
        if self.pattern is not None and self.pattern.fullmatch(value) is None:
            raise ValidationError(self.pattern_error)
        return value


class StrictInteger(fields.Integer):
    """A JSON integer, or in a query string ASCII digits only: no "５", no " 5\\n", no 5.0, no true."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value):
            return int(value)
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise ValidationError("Not a valid integer; send ASCII digits.")


class StrictNumber(fields.Float):
    """A finite JSON number (an integer is read as a float); no text, no true, no NaN."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Not a valid number.")
        if isinstance(value, float) and not math.isfinite(value):
            raise ValidationError("Not a finite number.")
        if isinstance(value, int) and abs(value) > 2**53:
            raise ValidationError("Too large a number.")
        return float(value)


class StrictAwareDateTime(fields.AwareDateTime):
    """An ISO 8601 date-time with its offset, written in ASCII and nothing after it."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or _ISO_DATETIME.fullmatch(value) is None:
            raise ValidationError("Not a valid date-time; send ISO 8601 with its offset: 2026-11-18T10:00:00+08:00.")
        return super()._deserialize(value, attr, data, **kwargs)


class StrictDate(fields.Date):
    """A calendar day written YYYY-MM-DD in ASCII, and a real one."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if not isinstance(value, str) or _ISO_DATE.fullmatch(value) is None:
            raise ValidationError("Not a valid date; send YYYY-MM-DD, e.g. 2026-11-18.")
        return super()._deserialize(value, attr, data, **kwargs)


class PlainValue(fields.Field):
    """A flat setting: text by the text rules, a finite number, or true/false; never a list or object."""

    def __init__(self, *, max_length: int, **kwargs: Any) -> None:
        self.max_length = max_length
        super().__init__(**kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str):
            refused = refused_characters(value)
            if refused:
                raise ValidationError(f"Control or invisible characters are not allowed ({', '.join(refused[:5])}).")
            if len(value) > self.max_length:
                raise ValidationError(f"Longer than {self.max_length} characters.")
            return value
        if isinstance(value, bool | int):
            return value
        if isinstance(value, float) and math.isfinite(value):
            return value
        raise ValidationError("Send text, a finite number, or true/false.")


class Distinct(validate.Validator):
    """A list without repeats."""

    def __call__(self, value: Any) -> Any:
        seen = list(value)
        if len(set(seen)) != len(seen):
            raise ValidationError("List each value once.")
        return value


def _length(min_length: int, max_length: int) -> validate.Length:
    """Bounds every text has; the OpenAPI document shows them as minLength and maxLength."""
    return validate.Length(min=min_length, max=max_length)
