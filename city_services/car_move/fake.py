"""The in-process fake car_move system, for demos and tests: its connection parameters."""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import FakeConnection


@dataclass(frozen=True, kw_only=True)
class Params(FakeConnection):
    """Only call limits: the fake has no address and no credentials, and production refuses it."""
