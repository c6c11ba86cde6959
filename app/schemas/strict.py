"""Fields that take JSON's types as they are, without coercion."""

from __future__ import annotations

from typing import Any

from marshmallow import ValidationError
from marshmallow import fields


class StrictBoolean(fields.Boolean):
    """Only true or false: "off", 0 or "yes" are type errors, not guesses."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise ValidationError("Not a valid boolean; send true or false.")
        return value
