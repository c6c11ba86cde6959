"""Probe answers."""

from __future__ import annotations

from marshmallow import Schema
from marshmallow import fields


class HealthSchema(Schema):
    """The process is alive."""

    status = fields.String(required=True, metadata={"example": "ok"})


class ReadinessSchema(Schema):
    """Each dependency's state."""

    status = fields.String(required=True, metadata={"example": "ready"})
    checks = fields.Dict(keys=fields.String(), values=fields.String(), required=True)
