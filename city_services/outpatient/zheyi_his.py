"""The hospital information system of the Zhejiang University First Hospital group (浙大一院): its parameters."""

from __future__ import annotations

from dataclasses import dataclass

from city_services.connection_params import HttpConnection
from city_services.connection_params import secret_variable
from city_services.connection_params import text


@dataclass(frozen=True, kw_only=True)
class Params(HttpConnection):
    """Where the HIS is, which hospital group of it to book in, and the variable holding the API key."""

    hospital_group: str = text(r"[a-z][a-z0-9_-]{0,31}", example="zheyi")
    api_key_env: str = secret_variable(example="ZHEYI_HIS_API_KEY")
