"""Migration 0006 moves each city × service's upstream out of its offerings, and downgrade puts it back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import JSON
from sqlalchemy import Engine
from sqlalchemy import column
from sqlalchemy import create_engine
from sqlalchemy import inspect
from sqlalchemy import select
from sqlalchemy import table
from sqlalchemy.dialects.postgresql import JSONB

from migrations import alembic_config
from migrations import upgrade_to_head
from tests.migrations.test_migrations import differences

JSON_DOCUMENT = JSON().with_variant(JSONB(), "postgresql")
cities = table("cities", column("code"), column("name_zh"), column("name_en"), column("display_order"))
services = table(
    "services",
    column("code"),
    column("name_zh"),
    column("name_en"),
    column("category"),
    column("icon"),
    column("display_order"),
)
offerings = table(
    "offerings",
    column("id"),
    column("city_code"),
    column("service_code"),
    column("channel"),
    column("enabled"),
    column("upstream"),
    column("upstream_params", JSON_DOCUMENT),
    column("open_weekdays"),
    column("updated_at"),
)
windows = table(
    "maintenance_windows", column("offering_id"), column("starts_at"), column("ends_at"), column("message_zh")
)
connections = table(
    "upstream_connections",
    column("city_code"),
    column("service_code"),
    column("adapter"),
    column("params", JSON_DOCUMENT),
    column("updated_at"),
)
EARLY, LATE = "2026-11-01T00:00:00+00:00", "2026-11-18T02:00:00+00:00"
OLD_FUND = {"institution_code": "A30-330100", "timeout_seconds": 5}
# Hangzhou's fund agrees on both channels; its car move was changed on alipay last; Shenzhen's
# outpatient channels disagree at the same moment, so the one seeded first (lowest id) wins.
OFFERINGS = [
    (1, "330100", "housing_fund", "wechat", "hangzhou_gjj", OLD_FUND, EARLY),
    (2, "330100", "housing_fund", "alipay", "hangzhou_gjj", OLD_FUND, EARLY),
    (3, "330100", "car_move", "wechat", "zhejiang_traffic_police", {"region": "浙A"}, EARLY),
    (4, "330100", "car_move", "alipay", "fake", {"timeout_seconds": 2}, LATE),
    (5, "440300", "outpatient", "alipay", "shenzhen_health_platform", {"platform": "szhealth"}, EARLY),
    (6, "440300", "outpatient", "wechat", "fake", {}, EARLY),
]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def at_0005(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database migrated to the revision before upstream connections."""
    url = (
        f"sqlite:///{tmp_path / 'before.db'}"
        if request.param == "sqlite"
        else request.getfixturevalue("empty_postgres")
    )
    command.upgrade(alembic_config(url), "0005")
    return url


def arrange_offerings(engine: Engine) -> None:
    with engine.begin() as connection:
        connection.execute(
            cities.insert(),
            [
                {"code": "330100", "name_zh": "杭州市", "name_en": "Hangzhou", "display_order": 0},
                {"code": "440300", "name_zh": "深圳市", "name_en": "Shenzhen", "display_order": 1},
            ],
        )
        connection.execute(
            services.insert(),
            [
                {"code": code, "name_zh": code, "name_en": code, "category": "c", "icon": "i", "display_order": n}
                for n, code in enumerate(("housing_fund", "car_move", "outpatient"))
            ],
        )
        connection.execute(
            offerings.insert(),
            [
                {
                    "id": id_,
                    "city_code": city,
                    "service_code": service,
                    "channel": channel,
                    "enabled": True,
                    "upstream": adapter,
                    "upstream_params": params,
                    "open_weekdays": "1234567",
                    "updated_at": at,
                }
                for id_, city, service, channel, adapter, params, at in OFFERINGS
            ],
        )
        connection.execute(
            windows.insert(),
            [{"offering_id": 1, "starts_at": LATE, "ends_at": "2026-11-19T02:00:00+00:00", "message_zh": "停"}],
        )


def rows(engine: Engine, query: Any) -> list[dict[str, Any]]:
    with engine.connect() as connection:
        return [dict(row) for row in connection.execute(query).mappings()]


def test_upgrade_moves_one_upstream_per_city_service_and_drops_the_columns(
    at_0005: str, caplog: pytest.LogCaptureFixture
) -> None:
    engine = create_engine(at_0005)
    arrange_offerings(engine)
    upgrade_to_head(at_0005)
    moved = rows(engine, select(connections).order_by(connections.c.city_code, connections.c.service_code))
    assert [(r["city_code"], r["service_code"], r["adapter"], r["params"]) for r in moved] == [
        ("330100", "car_move", "fake", {"timeout_seconds": 2}),
        ("330100", "housing_fund", "hangzhou_gjj", OLD_FUND),
        ("440300", "outpatient", "shenzhen_health_platform", {"platform": "szhealth"}),
    ]
    assert [str(r["updated_at"])[:10] for r in moved] == ["2026-11-18", "2026-11-01", "2026-11-01"]
    # Disagreements are named, with the channel kept; agreement is not.
    said = [r.getMessage() for r in caplog.records if "different upstreams" in r.getMessage()]
    assert said == [
        "330100/car_move: channels had different upstreams; kept alipay's, changed last",
        "440300/outpatient: channels had different upstreams; kept alipay's, changed last",
    ]
    columns = {c["name"] for c in inspect(engine).get_columns("offerings")}
    assert not {"upstream", "upstream_params"} & columns
    # Rebuilding the table on SQLite keeps the offerings, their ids and what hangs off them.
    assert [r["id"] for r in rows(engine, select(offerings.c.id).order_by(offerings.c.id))] == [1, 2, 3, 4, 5, 6]
    assert [r["offering_id"] for r in rows(engine, select(windows.c.offering_id))] == [1]
    engine.dispose()
    assert differences(at_0005) == []


def test_downgrade_gives_every_offering_its_connection_back(at_0005: str) -> None:
    engine = create_engine(at_0005)
    arrange_offerings(engine)
    upgrade_to_head(at_0005)
    command.downgrade(alembic_config(at_0005), "0005")
    back = rows(engine, select(offerings).order_by(offerings.c.id))
    # Each channel now carries what its city × service's connection chose: the disagreement is gone.
    assert [(r["id"], r["upstream"], r["upstream_params"]) for r in back] == [
        (1, "hangzhou_gjj", OLD_FUND),
        (2, "hangzhou_gjj", OLD_FUND),
        (3, "fake", {"timeout_seconds": 2}),
        (4, "fake", {"timeout_seconds": 2}),
        (5, "shenzhen_health_platform", {"platform": "szhealth"}),
        (6, "shenzhen_health_platform", {"platform": "szhealth"}),
    ]
    assert "upstream_connections" not in inspect(engine).get_table_names()
    assert not any(c["nullable"] for c in inspect(engine).get_columns("offerings") if c["name"].startswith("upstream"))
    assert [r["offering_id"] for r in rows(engine, select(windows.c.offering_id))] == [1]
    engine.dispose()
    upgrade_to_head(at_0005)
    assert differences(at_0005) == []


def test_an_empty_catalogue_migrates_both_ways(at_0005: str) -> None:
    upgrade_to_head(at_0005)
    command.downgrade(alembic_config(at_0005), "0005")
    upgrade_to_head(at_0005)
    assert differences(at_0005) == []


def test_sqlite_with_foreign_keys_enforced_is_refused_before_windows_cascade_away(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'enforcing.db'}"
    command.upgrade(alembic_config(url), "0005")
    engine = create_engine(url)
    arrange_offerings(engine)
    with engine.connect() as connection:
        connection.exec_driver_sql("PRAGMA foreign_keys=ON")
        config = alembic_config(url)
        config.attributes["connection"] = connection
        with pytest.raises(RuntimeError, match="foreign keys off"):
            command.upgrade(config, "head")
    assert [r["offering_id"] for r in rows(engine, select(windows.c.offering_id))] == [1]
    assert "upstream_connections" not in inspect(engine).get_table_names()
    engine.dispose()
