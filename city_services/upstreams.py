"""The upstream systems each service can be connected to, by adapter name, and the parameters each takes.

An operator picks one of these per city × service; a name not listed here would leave a tile
pointing at nothing, so the catalogue refuses it. Several cities may share one upstream system,
which is why adapters are named after systems, not cities. Adding a system is one module in its
service's package (a frozen `Params`, later its adapter) and one line here.
"""

from __future__ import annotations

from collections.abc import Iterable
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from city_services.car_move import fake as fake_car_move
from city_services.car_move import guangdong_traffic_police
from city_services.car_move import zhejiang_traffic_police
from city_services.connection_params import CallLimits
from city_services.connection_params import read_params
from city_services.housing_fund import fake as fake_housing_fund
from city_services.housing_fund import hangzhou_gjj
from city_services.housing_fund import shenzhen_gjj
from city_services.outpatient import fake as fake_outpatient
from city_services.outpatient import shenzhen_health_platform
from city_services.outpatient import zheyi_his
from errors import Invalid

HOUSING_FUND_ADAPTERS: dict[str, type[CallLimits]] = {
    "fake": fake_housing_fund.Params,
    "hangzhou_gjj": hangzhou_gjj.Params,
    "shenzhen_gjj": shenzhen_gjj.Params,
}
CAR_MOVE_ADAPTERS: dict[str, type[CallLimits]] = {
    "fake": fake_car_move.Params,
    "zhejiang_traffic_police": zhejiang_traffic_police.Params,
    "guangdong_traffic_police": guangdong_traffic_police.Params,
}
OUTPATIENT_ADAPTERS: dict[str, type[CallLimits]] = {
    "fake": fake_outpatient.Params,
    "zheyi_his": zheyi_his.Params,
    "shenzhen_health_platform": shenzhen_health_platform.Params,
}
UPSTREAM_ADAPTERS: dict[str, Mapping[str, type[CallLimits]]] = {
    "housing_fund": HOUSING_FUND_ADAPTERS,
    "car_move": CAR_MOVE_ADAPTERS,
    "outpatient": OUTPATIENT_ADAPTERS,
}


def params_kind(service: str, adapter: str) -> type[CallLimits]:
    """The Params class of a service's adapter, or Invalid naming the adapters there are."""
    known = UPSTREAM_ADAPTERS.get(service, {})
    if adapter not in known:
        raise Invalid(
            "catalogue.unknown_upstream",
            f"{service} has no upstream adapter named {adapter!r}.",
            {"adapter": list(known)},
        )
    return known[adapter]


def read_connection_params(service: str, adapter: str, raw: object) -> CallLimits:
    """A connection's parameters, checked strictly against what its adapter declares."""
    return read_params(params_kind(service, adapter), raw)


@dataclass(frozen=True)
class ConnectionSetting:
    """One city × service's adapter and parameters as seeded or stored, not yet read into its Params."""

    city: str
    service: str
    adapter: str
    params: dict[str, Any]


def production_problems(settings: Iterable[ConnectionSetting], environ: Mapping[str, str]) -> list[str]:
    """Every reason production must not run with these connections, each naming its city and service."""
    problems = []
    for setting in settings:
        where = f"{setting.city}/{setting.service}"
        try:
            params = read_connection_params(setting.service, setting.adapter, setting.params)
        except Invalid as refused:
            problems.append(f"{where} ({setting.adapter}): {refused.message}")
            continue
        problems.extend(f"{where} {problem}" for problem in params.production_problems(environ))
    return problems
