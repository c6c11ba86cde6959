"""Shenzhen Housing Provident Fund Management Centre (深圳市住房公积金管理中心): its connection parameters.

The centre's open platform issues a client id and secret; calls carry a token obtained with both.
"""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the open platform is, our client id, and the variable holding the client secret."""

    client_id: str = text(r"[A-Za-z0-9_.-]{1,64}", example="citytiles-szgjj")
    client_secret_env: str = secret_variable(example="SHENZHEN_GJJ_CLIENT_SECRET")
