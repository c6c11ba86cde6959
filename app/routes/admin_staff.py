"""Platform admins manage staff accounts."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.staff import NewStaffSchema
from app.schemas.staff import StaffListSchema
from app.schemas.staff import StaffSchema
from city_services.administration import served_cities
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import list_staff_members

blueprint = Blueprint("admin_staff", __name__, url_prefix="/admin/api")


@blueprint.get("/staff")
@operation(
    summary="All staff accounts", tag="admin", response=StaffListSchema(), auth="staff", errors=("auth.forbidden",)
)
def list_staff(staff: StaffMember) -> dict[str, Any]:
    """For platform admins only."""
    return {"staff": list_staff_members(get_session(), staff)}


@blueprint.post("/staff")
@operation(
    summary="Create a staff account (platform admins only); reason required",
    tag="admin",
    body=NewStaffSchema,
    response=StaffSchema(),
    status=201,
    auth="staff",
    errors=(
        "auth.forbidden",
        "staff.username_taken",
        "staff.unknown_role",
        "staff.weak_password",
        "staff.scope_required",
        "staff.scope_not_allowed",
        "staff.invalid_scope",
        "staff.unknown_city",
        "staff.invalid_username",
        "staff.invalid_display_name",
        "staff.reason_required",
    ),
)
def create_staff(staff: StaffMember, payload: tuple[NewStaffMember, str]) -> StaffMember:
    """A city operator needs cities, a channel admin needs channels."""
    new, reason = payload
    session = get_session()
    return add_staff_member(
        session, staff, new, reason=reason, now=current_app.extensions["clock"](), served_cities=served_cities(session)
    )
