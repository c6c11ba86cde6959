"""The one error body."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields


class ErrorDetailSchema(Schema):
    """What went wrong, as a stable code and a message for people."""

    code = fields.String(required=True, metadata={"example": "catalogue.city_not_found"})
    message = fields.String(required=True)
    details = fields.Dict(required=True, metadata={"description": "Field messages or context; may be empty."})


class ErrorSchema(Schema):
    """Every error response has this body."""

    error = fields.Nested(ErrorDetailSchema, required=True)
