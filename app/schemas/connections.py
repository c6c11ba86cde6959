"""Operators' view and changes of a city's upstream connections."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema
from marshmallow import fields
from marshmallow import post_load

from app.schemas.administration import reason_field
from app.schemas.strict import PlainValue
from app.schemas.strict import StrictText
from city_services.connection_params import MAX_PARAMS
from city_services.connection_params import MAX_TEXT_LENGTH
from city_services.connections import ConnectionChange

NAME = r"[a-z][a-z0-9_]{0,63}"


class ConnectionChangeSchema(Schema):
    """A change to one city × service's connection; what is left out stays as it is."""

    reason = reason_field()
    adapter = StrictText(
        max_length=64, pattern=NAME, pattern_error="An adapter name.", metadata={"example": "hangzhou_gjj"}
    )
    params = fields.Dict(
        keys=StrictText(max_length=64, pattern=NAME, pattern_error="A parameter name."),
        values=PlainValue(max_length=MAX_TEXT_LENGTH),
        # The adapter's Params refuses any name it does not declare (catalogue.invalid_upstream_params).
        metadata={
            "maxProperties": MAX_PARAMS,
            "description": "Every parameter of the adapter; ones left out take their defaults, not their "
            "previous values. Secrets are named by environment variable (…_env), never given.",
        },
    )

    @post_load
    def make_change(self, data: dict[str, Any], **kwargs: Any) -> ConnectionChange:
        """Load into the use-case's value."""
        return ConnectionChange(**data)


class ConnectionSchema(Schema):
    """One city × service's connection, as stored. (Health figures of the connection join here.)"""

    service = fields.String(required=True)
    adapter = fields.String(required=True)
    params = fields.Dict(required=True)
    updated_at = fields.AwareDateTime(required=True)
    problems = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Why the stored parameters do not fit the adapter; empty when they do."},
    )


class CityConnectionsSchema(Schema):
    """Every upstream connection of one city."""

    city = fields.String(required=True)
    connections = fields.List(fields.Nested(ConnectionSchema), required=True)
