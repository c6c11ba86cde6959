"""The catalogue's own rules refuse what cannot be read back, whoever writes: the API, the seed file or the CLI."""

from __future__ import annotations

from datetime import UTC
from datetime import datetime
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy.orm import Session

from city_services.administration import OfferingChange
from city_services.administration import change_offering
from city_services.offering_rules import check_hours
from city_services.offering_rules import check_window
from city_services.seeding import read_seed
from errors import Invalid
from identity.models import StaffMember
from tests.conftest import SEED

NOW = datetime(2026, 11, 18, 2, tzinfo=UTC)
LATER = datetime(2026, 11, 19, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("opens_at", "closes_at", "weekdays"),
    [
        (None, None, "12345\n"),
        (None, None, "\n12345"),
        ("08:00\n", "18:00", "12345"),
        ("０８:００", "18:00", "12345"),
        ("8:00", "18:00", "12345"),
        (None, None, "１２３"),
        (None, None, "١٢٣"),
        (None, None, 12345),
        (800, 1800, "12345"),
        (None, None, ""),
    ],
)
def test_hours_are_whole_ascii_values(opens_at: object, closes_at: object, weekdays: object) -> None:
    with pytest.raises(Invalid) as refused:
        check_hours(opens_at, closes_at, weekdays)  # type: ignore[arg-type]
    assert refused.value.code == "catalogue.invalid_hours"


def test_good_hours_pass() -> None:
    check_hours("08:00", "18:00", "12345")
    check_hours(None, None, "7")


@pytest.mark.parametrize(
    ("message_zh", "message_en"), [("停\n机", None), ("   ", None), ("停", "down\r"), ("停" * 201, None)]
)
def test_window_notices_are_one_clean_line(message_zh: str, message_en: str | None) -> None:
    with pytest.raises(Invalid) as refused:
        check_window(LATER, LATER.replace(hour=4), message_zh, message_en, now=NOW)
    assert refused.value.code == "catalogue.invalid_maintenance_window"


EXTRA_CITY = """
[[cities]]
code = "320100"
name_zh = "南京市"
name_en = "Nanjing"

  [[cities.offerings]]
  service = "car_move"
  channels = ["alipay"]
  enabled = false
  hours = { opens_at = "08:30", closes_at = "18:00", weekdays = "12345" }

  [[cities.upstreams]]
  service = "car_move"
  adapter = "fake"
"""


@pytest.mark.parametrize(
    ("original", "loose"),
    [
        ('code = "320100"', 'code = "３２０１００"'),
        ('code = "320100"', 'code = "320100\\n"'),
        ('name_en = "Nanjing"', 'name_en = "Nan\\u202ejing"'),
        ('name_zh = "南京市"', 'name_zh = "  "'),
        ('code = "car_move"', 'code = "car_move\\n"'),
        ('icon = "outpatient"', 'icon = "out patient"'),
        ('weekdays = "12345"', 'weekdays = "12345\\n"'),
        ('opens_at = "08:30"', 'opens_at = "08:30\\n"'),
        ('opens_at = "08:30"', "opens_at = 830"),
        ('hours = { opens_at = "08:30", closes_at = "18:00", weekdays = "12345" }', 'hours = "all day"'),
    ],
)
def test_the_seed_file_is_held_to_the_same_rules(tmp_path: Path, original: str, loose: str) -> None:
    text = SEED.read_text(encoding="utf-8") + EXTRA_CITY
    path = tmp_path / "cities.toml"
    path.write_text(text, encoding="utf-8")
    assert read_seed(path).cities[-1]["code"] == "320100"
    assert original in text, original
    path.write_text(text.replace(original, loose, 1), encoding="utf-8")
    with pytest.raises(Invalid):
        read_seed(path)


@pytest.mark.usefixtures("seeded")
@pytest.mark.parametrize("reason", ["", "   ", "why\n", "\u200b"])
def test_a_catalogue_change_needs_a_reason_in_the_use_case_too(app: Flask, session: Session, reason: str) -> None:
    admin = StaffMember(id=1, username="root", role="platform_admin", cities=[], channels=[])
    with pytest.raises(Invalid) as refused:
        change_offering(
            session,
            admin,
            city="330100",
            service="car_move",
            channel="wechat",
            change=OfferingChange(reason=reason, enabled=False),
            now=NOW,
        )
    assert refused.value.code == "catalogue.reason_required"
