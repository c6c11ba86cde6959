"""Hangzhou Housing Provident Fund Management Centre (杭州住房公积金管理中心): its connection parameters.

The centre signs every request with an HMAC key it issued to the institution (机构号, `jgh`).
"""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the centre's API is, our institution code there, and the variable holding the HMAC key."""

    jgh: str = text(r"[0-9A-Za-z-]{1,32}", example="A30-330100")
    secret_env: str = secret_variable(example="HANGZHOU_GJJ_HMAC_KEY")
