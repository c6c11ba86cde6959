"""An operator tunes a city's car-move limits: with a reason, in their city, one row per city, audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from city_services.car_move.models import CarMoveRules
from city_services.car_move.rules import Limits
from city_services.car_move.rules import change_limits
from city_services.car_move.rules import limits_of
from database import transaction
from errors import Invalid
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import create_staff_member
from tests.conftest import STAFF_PASSWORD
from tests.conftest import Clock

pytestmark = pytest.mark.usefixtures("seeded")


def operator(session: Session, clock: Clock) -> StaffMember:
    with transaction(session):
        create_staff_member(
            session,
            NewStaffMember("ops.both", "Ops", STAFF_PASSWORD, "city_operator", ("330100", "440300"), ()),
            now=clock(),
        )
    return session.scalars(select(StaffMember).where(StaffMember.username == "ops.both")).one()


@pytest.mark.parametrize("reason", ["", "   ", "\t"])
def test_a_change_needs_a_reason_even_past_the_schema(session: Session, clock: Clock, reason: str) -> None:
    staff = operator(session, clock)
    with pytest.raises(Invalid) as refused:
        change_limits(session, staff, "330100", Limits(2), reason, now=clock())
    assert refused.value.code == "catalogue.reason_required" and refused.value.message
    assert session.scalar(select(CarMoveRules)) is None


def test_each_city_keeps_one_row_changed_in_place_and_audited_for_that_city(session: Session, clock: Clock) -> None:
    staff = operator(session, clock)
    change_limits(session, staff, "440300", Limits(4, timedelta(minutes=15)), "shenzhen asks", now=clock())
    change_limits(session, staff, "330100", Limits(2, timedelta(minutes=30)), "complaints", now=clock())
    clock.advance(minutes=1)
    change_limits(session, staff, "330100", Limits(3, timedelta(minutes=20)), " fewer complaints ", now=clock())
    assert [
        (r.city_code, r.monthly_requests, r.plate_cooldown_minutes)
        for r in session.scalars(select(CarMoveRules).order_by(CarMoveRules.city_code))
    ] == [("330100", 3, 20), ("440300", 4, 15)]
    assert limits_of(session, "330100") == Limits(3, timedelta(minutes=20))
    entries = session.scalars(
        select(AuditEntry).where(AuditEntry.action == "car_move.limits_changed").order_by(AuditEntry.id)
    ).all()
    assert [(e.city_code, e.target, e.reason) for e in entries] == [
        ("440300", "440300/car_move", "shenzhen asks"),
        ("330100", "330100/car_move", "complaints"),
        ("330100", "330100/car_move", "fewer complaints"),
    ]
    assert entries[2].before == {"monthly_requests": 2, "plate_cooldown_minutes": 30}
