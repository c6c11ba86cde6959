"""Shenzhen's municipal health platform (深圳市统一预约挂号平台): its connection parameters.

Requests are signed with a key the platform issued to our platform id.
"""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is, our platform id there, and the variable holding the signing key."""

    platform_id: str = text(r"[A-Za-z0-9_-]{1,32}", example="szhealth")
    signing_key_env: str = secret_variable(example="SHENZHEN_HEALTH_SIGNING_KEY")
