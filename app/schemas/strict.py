"""Fields and validators that take JSON's types and text as they are, without coercion or leniency."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import ValidationError
from marshmallow import fields
from marshmallow import validate


class StrictBoolean(fields.Boolean):
    """Only true or false: "off", 0 or "yes" are type errors, not guesses."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean; send true or false.")
        return value


class FullMatch(validate.Regexp):
    """A pattern the whole value must match, in ASCII: Python's `$` matches before a trailing newline
    and `\\d` matches digits of every script, so `re.match` lets "08:30\\n" or "３３０１００" through.

    The pattern is documented as it is written, and means the same in the OpenAPI document's regex dialect.
    """

    def __init__(self, pattern: str, error: str | None = None) -> None:
        super().__init__(pattern, flags=re.ASCII, error=error)

    def __call__(self, value: str) -> str:
        """Return the value, or raise ValidationError unless the whole of it matches."""
        if self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value
