"""Seeding adds what is new and never overwrites operators' changes."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.catalogue import current_revision
from city_services.models import City
from city_services.models import Offering
from city_services.models import UpstreamConnection
from city_services.seeding import read_seed
from city_services.seeding import seed_catalogue
from database import transaction
from errors import Invalid
from tests.conftest import SEED

NOW = datetime(2026, 11, 18, tzinfo=UTC)
EXTRA_CITY = """
[[cities]]
code = "320100"
name_zh = "南京市"
name_en = "Nanjing"

  [[cities.offerings]]
  service = "car_move"
  channels = ["alipay"]
  enabled = false
  hours = { opens_at = "08:00", closes_at = "18:00", weekdays = "54321" }

  [[cities.upstreams]]
  service = "car_move"
  adapter = "fake"
  params = { timeout_seconds = 2 }
"""


def count(session: Session, model: type) -> int:
    return session.scalar(select(func.count()).select_from(model))


def test_seed_file_loads_both_demo_cities_with_all_services_on_both_channels(session: Session) -> None:
    report = seed_catalogue(session, read_seed(SEED), now=NOW)
    assert report.cities == ["330100", "440300"]
    assert report.services == ["housing_fund", "car_move", "outpatient"]
    assert len(report.offerings) == 12
    assert all(o.enabled for o in session.scalars(select(Offering)))
    assert current_revision(session) == 1


def test_each_city_service_has_one_connection_whatever_the_channels(session: Session) -> None:
    report = seed_catalogue(session, read_seed(SEED), now=NOW)
    assert report.connections == [
        "330100/housing_fund",
        "330100/car_move",
        "330100/outpatient",
        "440300/housing_fund",
        "440300/car_move",
        "440300/outpatient",
    ]
    adapters = {(c.city_code, c.service_code): c.adapter for c in session.scalars(select(UpstreamConnection))}
    assert adapters == {
        ("330100", "housing_fund"): "hangzhou_gjj",
        ("330100", "car_move"): "zhejiang_traffic_police",
        ("330100", "outpatient"): "zheyi_his",
        ("440300", "housing_fund"): "shenzhen_gjj",
        ("440300", "car_move"): "guangdong_traffic_police",
        ("440300", "outpatient"): "shenzhen_health_platform",
    }
    fund = session.scalar(select(UpstreamConnection).where(UpstreamConnection.adapter == "hangzhou_gjj"))
    # Stored whole, defaults filled in, so the audit log and the admin API show what is in force.
    assert fund.params == {
        "timeout_seconds": 5.0,
        "max_concurrent_calls": 8,
        "failure_threshold": 5,
        "reset_seconds": 30.0,
        "read_retries": 1,
        "base_url": "http://127.0.0.1:8700/upstreams/hangzhou-gjj",
        "appid": "HZGJJ-CT-0001",
        "jgh": "330100",
        "secret_env": "HANGZHOU_GJJ_HMAC_KEY",
    }
    assert fund.updated_at == NOW


def test_seeding_again_adds_nothing_and_keeps_operator_changes(session: Session, tmp_path: Path) -> None:
    seed_catalogue(session, read_seed(SEED), now=NOW)
    with transaction(session):
        offering = session.scalar(
            select(Offering).where(Offering.city_code == "330100", Offering.service_code == "car_move")
        )
        offering.enabled = False
        connection = session.scalar(select(UpstreamConnection).where(UpstreamConnection.adapter == "zheyi_his"))
        connection.params = {**connection.params, "timeout_seconds": 9.0}
    again = seed_catalogue(session, read_seed(SEED), now=NOW)
    assert (again.cities, again.services, again.offerings, again.connections) == ([], [], [], [])
    assert current_revision(session) == 1
    session.expire_all()
    kept = session.get(Offering, offering.id)
    assert kept.enabled is False
    assert session.get(UpstreamConnection, connection.id).params["timeout_seconds"] == 9.0

    extended = tmp_path / "cities.toml"
    extended.write_text(SEED.read_text(encoding="utf-8") + EXTRA_CITY, encoding="utf-8")
    report = seed_catalogue(session, read_seed(extended), now=NOW)
    assert report.cities == ["320100"] and report.offerings == ["320100/car_move/alipay"]
    assert report.connections == ["320100/car_move"]
    assert count(session, City) == 3 and count(session, Offering) == 13 and count(session, UpstreamConnection) == 7
    nanjing = session.scalar(select(Offering).where(Offering.city_code == "320100"))
    assert (nanjing.opens_at, nanjing.closes_at, nanjing.open_weekdays) == ("08:00", "18:00", "12345")
    assert session.get(Offering, offering.id).enabled is False
    assert current_revision(session) == 2


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("this is = = not toml", "catalogue.seed_unreadable"),
        ('[[cities]]\ncode = "3301"\nname_zh = "x"\nname_en = "x"\n', "catalogue.invalid_city_code"),
        ('[[services]]\ncode = "x"\n', "catalogue.invalid_seed"),
        ('[[cities]]\ncode = "330100"\nname_zh = "x"\n', "catalogue.invalid_seed"),
        (
            '[[cities]]\ncode = "330100"\nname_zh = "x"\nname_en = "x"\n[[cities.offerings]]\nservice = "parking"\n',
            "catalogue.invalid_seed",
        ),
    ],
)
def test_bad_seed_files_are_refused_naming_the_problem(tmp_path: Path, text: str, code: str) -> None:
    path = tmp_path / "cities.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        read_seed(path)
    assert refused.value.code == code


@pytest.mark.parametrize(
    ("good", "bad", "code"),
    [
        ('adapter = "fake"', 'adapter = "nowhere"', "catalogue.unknown_upstream"),
        ('adapter = "fake"', 'adapter = "hangzhou_gjj"', "catalogue.unknown_upstream"),
        ("timeout_seconds = 2 }", "timeout_seconds = 0 }", "catalogue.invalid_upstream_params"),
        ("timeout_seconds = 2 }", 'timeout_seconds = "2" }', "catalogue.invalid_upstream_params"),
        ("timeout_seconds = 2 }", "timeout_seconds = true }", "catalogue.invalid_upstream_params"),
        (
            "timeout_seconds = 2 }",
            "timeout_seconds = 2, base_url = 'https://x.example' }",
            "catalogue.invalid_upstream_params",
        ),
        ("params = { timeout_seconds = 2 }", 'params = "fast"', "catalogue.invalid_upstream_params"),
        ('channels = ["alipay"]', 'channels = ["douyin"]', "catalogue.unknown_channel"),
        ("enabled = false", 'enabled = "false"', "catalogue.invalid_seed"),
        # Upstreams are per city × service now: the old per-offering keys are refused, not dropped.
        ("enabled = false", 'enabled = false\n  upstream = "fake"', "catalogue.invalid_seed"),
        ("enabled = false", "enabled = false\n  colour = 1", "catalogue.invalid_seed"),
        ('adapter = "fake"', 'adapter = "fake"\n  colour = 1', "catalogue.invalid_seed"),
        ('service = "car_move"\n  adapter', 'service = "parking"\n  adapter', "catalogue.invalid_seed"),
        ("[[cities.upstreams]]", "[[cities.unused]]", "catalogue.invalid_seed"),
        # Offered, but through nothing.
        ('[[cities.upstreams]]\n  service = "car_move"\n  adapter = "fake"\n', "", "catalogue.invalid_seed"),
        (
            "[[cities.upstreams]]",
            '[[cities.upstreams]]\n  service = "car_move"\n  adapter = "fake"\n\n  [[cities.upstreams]]',
            "catalogue.invalid_seed",
        ),
    ],
)
def test_seed_upstreams_are_held_to_their_adapters_params(tmp_path: Path, good: str, bad: str, code: str) -> None:
    path = tmp_path / "cities.toml"
    assert good in EXTRA_CITY, good
    path.write_text(SEED.read_text(encoding="utf-8") + EXTRA_CITY.replace(good, bad, 1), encoding="utf-8")
    with pytest.raises(Invalid) as refused:
        read_seed(path)
    assert refused.value.code == code
    # The message names the entry at fault (the unknown channel names itself).
    assert "320100" in refused.value.message or code == "catalogue.unknown_channel", refused.value.message
