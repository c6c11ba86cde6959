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


class BreakerSchema(Schema):
    """The connection's circuit breaker: closed (calls go through), open (refused at once), half_open (one trial)."""

    state = fields.String(required=True, metadata={"example": "closed"})
    failures = fields.Integer(required=True, metadata={"description": "Failed calls in a row"})
    opened_at = fields.AwareDateTime(allow_none=True)


class LastHourSchema(Schema):
    """The connection's calls over the last hour, from every worker."""

    calls = fields.Integer(required=True)
    success_rate = fields.Float(allow_none=True, metadata={"example": 0.98})
    p50_ms = fields.Float(allow_none=True)
    p95_ms = fields.Float(allow_none=True)
    last_error = fields.String(allow_none=True, metadata={"example": "timeout"})
    last_error_at = fields.AwareDateTime(allow_none=True)


class ConnectionHealthSchema(Schema):
    """How the connection is doing; both null when the figures cannot be read right now."""

    breaker = fields.Nested(BreakerSchema, allow_none=True, required=True)
    last_hour = fields.Nested(LastHourSchema, allow_none=True, required=True)


class ConnectionSchema(Schema):
    """One city × service's connection, as stored, and its health."""

    service = fields.String(required=True)
    adapter = fields.String(required=True)
    params = fields.Dict(required=True)
    updated_at = fields.AwareDateTime(required=True)
    problems = fields.List(
        fields.String(),
        required=True,
        metadata={"description": "Why the stored parameters do not fit the adapter; empty when they do."},
    )
    health = fields.Nested(ConnectionHealthSchema, required=True)


class CityConnectionsSchema(Schema):
    """Every upstream connection of one city."""

    city = fields.String(required=True)
    connections = fields.List(fields.Nested(ConnectionSchema), required=True)
