"""Changing a connection in production: its adapter's Params say what is refused, and nothing is written then."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.connections import ConnectionChange
from city_services.connections import change_connection
from city_services.models import UpstreamConnection
from errors import Invalid
from identity.models import AuditEntry
from identity.models import StaffMember
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")
PUBLIC_FUND = {
    "base_url": "https://gjj.hangzhou.gov.cn/open",
    "appid": "HZGJJ-CT-0001",
    "jgh": "330100",
    "secret_env": "HZ_GJJ_KEY",
}
SECRETS = {"HZ_GJJ_KEY": "issued-by-the-centre"}


@pytest.fixture
def admin(make_staff: Any, session: Session) -> StaffMember:
    make_staff("root", "platform_admin")
    staff: StaffMember = session.scalar(select(StaffMember).where(StaffMember.username == "root"))
    return staff


def change_in_production(session: Session, admin: StaffMember, clock: Clock, **change: Any) -> UpstreamConnection:
    return change_connection(
        session,
        admin,
        city="330100",
        service="housing_fund",
        change=ConnectionChange(reason="go live", **change),
        now=clock(),
        production_environ=SECRETS,
    )


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"adapter": "fake", "params": {}}, "uses the fake upstream adapter, which stands in for the real system"),
        (
            {"params": {**PUBLIC_FUND, "base_url": "http://127.0.0.1:8700/upstreams/hangzhou-gjj"}},
            "upstream base_url is not a public HTTPS URL: http://127.0.0.1:8700/upstreams/hangzhou-gjj",
        ),
        (
            {"params": {**PUBLIC_FUND, "secret_env": "UNSET_KEY"}},
            "secret_env names UNSET_KEY, which is not set or blank",
        ),
        # The demo's seeded connection itself: the sandbox on loopback, its secret not set.
        ({}, "upstream base_url is not a public HTTPS URL: http://127.0.0.1:8700/upstreams/hangzhou-gjj"),
    ],
)
def test_production_refuses_what_the_adapters_params_refuse(
    app: Flask, session: Session, admin: StaffMember, clock: Clock, change: dict[str, Any], problem: str
) -> None:
    with pytest.raises(Invalid) as refused:
        change_in_production(session, admin, clock, **change)
    assert refused.value.code == "catalogue.unsafe_upstream"
    assert problem in refused.value.details["problems"]
    session.rollback()
    stored = session.scalar(select(UpstreamConnection).where(UpstreamConnection.adapter == "hangzhou_gjj"))
    assert stored.params["base_url"] == "http://127.0.0.1:8700/upstreams/hangzhou-gjj"
    assert session.scalars(select(AuditEntry)).all() == []


def test_production_takes_a_public_system_whose_secret_is_set(
    app: Flask, session: Session, admin: StaffMember, clock: Clock
) -> None:
    connection = change_in_production(session, admin, clock, params=PUBLIC_FUND)
    assert connection.params["base_url"] == "https://gjj.hangzhou.gov.cn/open"
    [entry] = session.scalars(select(AuditEntry)).all()
    assert entry.action == "catalogue.upstream_changed" and entry.after == {
        "city": "330100",
        "service": "housing_fund",
        "adapter": "hangzhou_gjj",
        "params": connection.params,
    }
