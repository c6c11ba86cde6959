"""Guangdong traffic police platform (广东交警): its connection parameters."""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is, and the variable holding our credentials there."""

    credentials_env: str = secret_variable(example="GUANGDONG_TRAFFIC_POLICE_CREDENTIALS")
