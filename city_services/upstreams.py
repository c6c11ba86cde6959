"""The upstream systems each service can be wired to, by adapter name.

An operator picks one of these per city × service × channel; a name not listed here would
leave a tile pointing at nothing, so the catalogue refuses it. Several cities may share one
upstream system, which is why adapters are named after systems, not cities.
"""

from __future__ import annotations

UPSTREAM_ADAPTERS: dict[str, tuple[str, ...]] = {
    "housing_fund": ("fake", "hangzhou_gjj", "shenzhen_gjj"),
    "car_move": ("fake", "zhejiang_traffic_police", "guangdong_traffic_police"),
    "outpatient": ("fake", "zheyi_his", "shenzhen_health_platform"),
}
