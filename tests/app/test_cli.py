"""The flask commands a newcomer and an operator run."""

from __future__ import annotations

from pathlib import Path

from flask import Flask
from sqlalchemy import func
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.models import Offering
from identity.models import StaffMember
from tests.conftest import Api


def test_seed_catalogue_adds_then_reports_nothing_new(app: Flask, session: Session) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-catalogue"])
    assert first.exit_code == 0 and "added 2 cities, 3 services, 12 offerings, 6 upstream connections" in first.output
    second = runner.invoke(args=["seed-catalogue"])
    assert second.exit_code == 0 and "added 0 cities, 0 services, 0 offerings, 0 upstream connections" in second.output
    assert session.scalar(select(func.count()).select_from(Offering)) == 12


def test_seed_catalogue_reports_a_bad_file_without_a_traceback(app: Flask, tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('[[cities]]\ncode = "12"\nname_zh = "x"\nname_en = "x"\n', encoding="utf-8")
    result = app.test_cli_runner().invoke(args=["seed-catalogue", "--file", str(bad)])
    assert result.exit_code == 1 and "6-digit" in result.output and "Traceback" not in result.output


def test_create_platform_admin_once_then_log_in(app: Flask, api: Api, session: Session) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["create-platform-admin", "--username", "root"], input="a strong password\na strong password\n"
    )
    assert result.exit_code == 0, result.output
    assert session.scalar(select(StaffMember.role)) == "platform_admin"
    api.post("/admin/api/sessions", json={"username": "root", "password": "a strong password"}, expected=201)
    again = runner.invoke(args=["create-platform-admin", "--username", "root2", "--password", "another password"])
    assert again.exit_code == 1 and "already exists" in again.output
    quiet = runner.invoke(args=["create-platform-admin", "--username", "root2", "--password", "x", "--if-missing"])
    assert quiet.exit_code == 0


def test_create_platform_admin_refuses_a_weak_password(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["create-platform-admin", "--username", "root", "--password", "short"])
    assert result.exit_code == 1 and "12 characters" in result.output


def test_migrate_brings_an_empty_sqlite_database_to_head(tmp_path: Path) -> None:
    from dataclasses import replace

    from sqlalchemy import inspect

    from app import create_app
    from config import Settings

    settings = replace(Settings.from_env({}), database_url=f"sqlite:///{tmp_path / 'fresh.db'}")
    fresh = create_app(settings)
    result = fresh.test_cli_runner().invoke(args=["migrate"])
    assert result.exit_code == 0, result.output
    assert "offerings" in inspect(fresh.extensions["engine"]).get_table_names()
    fresh.extensions["engine"].dispose()


def test_reseal_pii_moves_every_value_to_the_new_key(
    app: Flask, settings, clock, fake_channels, fake_wechat, session: Session
) -> None:
    import base64
    from dataclasses import replace

    from app import create_app
    from identity.models import Resident
    from tests.conftest import WECHAT_MINI_PROGRAM

    code, _ = fake_wechat.issue_code("o-1", real_name="张三", id_number="11010519491231002X")
    api = Api(app.test_client())
    token = api.post(
        "/api/v1/sessions", json={"channel": "wechat", "app_id": WECHAT_MINI_PROGRAM, "code": code}, expected=201
    )["token"]
    api.post(
        "/api/v1/me/real-name",
        json={"name": "张三", "id_number": "11010519491231002X", "consent_version": "2026-11"},
        token=token,
    )
    new_key = base64.b64encode(b"n" * 32).decode()
    rotated = create_app(
        replace(settings, pii_keys=f"{settings.pii_keys},new1:{new_key}", pii_active_key="new1"),
        clock=clock,
        channels=fake_channels,
    )
    result = rotated.test_cli_runner().invoke(args=["reseal-pii"])
    assert result.exit_code == 0 and "re-sealed 3 values under key new1" in result.output
    session.expire_all()
    resident = session.scalar(select(Resident))
    assert resident.real_name_sealed.startswith("v1:new1:") and resident.id_number_sealed.startswith("v1:new1:")
    assert Api(rotated.test_client()).get("/api/v1/me", token=token)["id_number"] == "1101**********002X"
    assert "re-sealed 0 values" in rotated.test_cli_runner().invoke(args=["reseal-pii"]).output
    rotated.extensions["engine"].dispose()
