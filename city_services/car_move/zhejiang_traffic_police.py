"""Zhejiang traffic police platform (浙江交警): its connection parameters.

One provincial platform serves every Zhejiang city; a connection covers the plates of one city's prefix.
"""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the platform is, the city's plate prefix (浙A for Hangzhou ... 浙L), and the credentials' variable."""

    region: str = text(r"浙[A-L]", example="浙A")
    credentials_env: str = secret_variable(example="ZHEJIANG_TRAFFIC_POLICE_CREDENTIALS")
