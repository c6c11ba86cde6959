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
  upstream = "fake"
  hours = { opens_at = "08:00", closes_at = "18:00", weekdays = "54321" }
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


def test_seeding_again_adds_nothing_and_keeps_operator_changes(session: Session, tmp_path: Path) -> None:
    seed_catalogue(session, read_seed(SEED), now=NOW)
    with transaction(session):
        offering = session.scalar(
            select(Offering).where(Offering.city_code == "330100", Offering.service_code == "car_move")
        )
        offering.enabled = False
        offering.upstream_params = {"region": "浙A", "timeout_seconds": 9}
    again = seed_catalogue(session, read_seed(SEED), now=NOW)
    assert (again.cities, again.services, again.offerings) == ([], [], [])
    assert current_revision(session) == 1
    session.expire_all()
    kept = session.get(Offering, offering.id)
    assert kept.enabled is False and kept.upstream_params["timeout_seconds"] == 9

    extended = tmp_path / "cities.toml"
    extended.write_text(SEED.read_text(encoding="utf-8") + EXTRA_CITY, encoding="utf-8")
    report = seed_catalogue(session, read_seed(extended), now=NOW)
    assert report.cities == ["320100"] and report.offerings == ["320100/car_move/alipay"]
    assert count(session, City) == 3 and count(session, Offering) == 13
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


def test_seed_with_unknown_upstream_or_channel_is_refused(tmp_path: Path) -> None:
    for bad, code in (
        ('upstream = "fake"', 'upstream = "nowhere"'),
        ('channels = ["alipay"]', 'channels = ["douyin"]'),
        ("enabled = false", 'enabled = "false"'),
    ):
        path = tmp_path / "cities.toml"
        path.write_text(SEED.read_text(encoding="utf-8") + EXTRA_CITY.replace(bad, code), encoding="utf-8")
        with pytest.raises(Invalid):
            read_seed(path)
