"""Operators tune a city's car-move limits (requests per requester per month, plate cool-down), with a reason."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.car_move import CarMoveRulesSchema
from app.schemas.car_move import CarMoveRulesViewSchema
from city_services.administration import require_city
from city_services.car_move.rules import Limits
from city_services.car_move.rules import change_limits
from city_services.car_move.rules import describe_limits
from city_services.car_move.rules import limits_of
from identity.models import StaffMember
from identity.roles import authorise

blueprint = Blueprint("admin_car_move", __name__, url_prefix="/admin/api")
ERRORS = ("auth.forbidden", "auth.city_out_of_scope", "catalogue.city_not_found")


@blueprint.get("/cities/<city>/car-move-rules")
@operation(
    summary="A city's car-move limits in force",
    tag="admin",
    response=CarMoveRulesViewSchema(),
    auth="staff",
    errors=ERRORS,
)
def get_car_move_rules(city: str, staff: StaffMember) -> dict[str, Any]:
    """Defaults (5 a month, 10 minutes) until an operator changes them."""
    authorise(staff, "catalogue.view", city=city)
    session = get_session()
    require_city(session, city)
    return {"city": city, **describe_limits(limits_of(session, city))}


@blueprint.patch("/cities/<city>/car-move-rules")
@operation(
    summary="Change a city's car-move limits; reason required, audited",
    tag="admin",
    body=CarMoveRulesSchema,
    response=CarMoveRulesViewSchema(),
    auth="staff",
    errors=(*ERRORS, "catalogue.reason_required"),
)
def change_car_move_rules(city: str, staff: StaffMember, payload: dict[str, Any]) -> dict[str, Any]:
    """Both limits are given together, so the audit entry says exactly what is in force."""
    limits = Limits(payload["monthly_requests"], timedelta(minutes=payload["plate_cooldown_minutes"]))
    changed = change_limits(
        get_session(), staff, city, limits, payload["reason"], now=current_app.extensions["clock"]()
    )
    return {"city": city, **describe_limits(changed)}
