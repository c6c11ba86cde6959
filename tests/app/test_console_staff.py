"""A platform admin changes a staff member's scope from the console's staff list."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from identity.models import AuditEntry
from identity.models import StaffMember
from tests.app.console_client import Console
from tests.app.console_client import alert
from tests.app.console_client import console_fixture  # noqa: F401 - a fixture
from tests.conftest import Api

pytestmark = pytest.mark.usefixtures("seeded")


def scope_of(session: Session, username: str) -> tuple[list[str], list[str]]:
    """The cities and channels stored for an account, read afresh."""
    session.rollback()
    staff = session.scalar(select(StaffMember).where(StaffMember.username == username))
    assert staff is not None
    return list(staff.cities), list(staff.channels)


def test_a_platform_admin_moves_an_operator_to_another_city(
    console: Console, api: Api, make_staff: Any, session: Session
) -> None:
    make_staff("root", "platform_admin")
    operator = make_staff("hz-ops", "city_operator", ("330100",))
    make_staff("finance", "channel_admin", channels=("wechat",))
    console.log_in("root")
    page = console.text("/admin/staff/")
    assert 'action="/admin/staff/hz-ops/scope"' in page and 'action="/admin/staff/finance/scope"' in page
    assert 'action="/admin/staff/root/scope"' not in page

    refused = console.post("/admin/staff/hz-ops/scope", {"cities": ["440300"], "reason": ""}, expected=422)
    assert alert(refused)
    console.post("/admin/staff/hz-ops/scope", {"cities": [], "reason": "Emptied"}, expected=422)
    console.post("/admin/staff/hz-ops/scope", {"cities": ["440300"], "reason": "Moved to Shenzhen"})

    assert scope_of(session, "hz-ops") == (["440300"], [])
    api.get("/admin/api/cities/330100/catalogue", token=operator, expected=403)
    api.get("/admin/api/cities/440300/catalogue", token=operator)
    console.post("/admin/staff/finance/scope", {"channels": ["alipay"], "reason": "Swapped books"})
    assert scope_of(session, "finance") == ([], ["alipay"])
    session.rollback()
    actions = [(e.action, e.target) for e in session.scalars(select(AuditEntry).order_by(AuditEntry.id))]
    assert actions == [("staff.rescoped", "staff/hz-ops"), ("staff.rescoped", "staff/finance")]


def test_a_rescope_without_its_csrf_token_is_refused(console: Console, make_staff: Any, session: Session) -> None:
    make_staff("root", "platform_admin")
    make_staff("hz-ops", "city_operator", ("330100",))
    console.log_in("root")
    console.get("/admin/staff/")

    console.post("/admin/staff/hz-ops/scope", {"cities": ["440300"], "reason": "Moved"}, expected=400, csrf=False)

    assert scope_of(session, "hz-ops") == (["330100"], [])


def test_an_operator_cannot_rescope_anyone(console: Console, make_staff: Any, session: Session) -> None:
    make_staff("hz-ops", "city_operator", ("330100",))
    make_staff("sz-ops", "city_operator", ("440300",))
    console.log_in("hz-ops")

    console.post("/admin/staff/sz-ops/scope", {"cities": ["330100"], "reason": "Mine now"}, expected=403)

    assert scope_of(session, "sz-ops") == (["440300"], [])
