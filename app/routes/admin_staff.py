"""Platform admins manage staff accounts: create, rescope, disable, unlock."""

from __future__ import annotations

from typing import Any

from flask import Blueprint
from flask import current_app

from app.db_session import get_session
from app.operations import operation
from app.schemas.staff import NewStaffSchema
from app.schemas.staff import ScopeChangeSchema
from app.schemas.staff import StaffChangeReasonSchema
from app.schemas.staff import StaffListSchema
from app.schemas.staff import StaffSchema
from city_services.administration import served_cities
from identity.models import StaffMember
from identity.staff import NewStaffMember
from identity.staff import add_staff_member
from identity.staff import disable_staff_member
from identity.staff import list_staff_members
from identity.staff import rescope_staff_member
from identity.staff import unlock_staff_member

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


@blueprint.patch("/staff/<username>")
@operation(
    summary="Change a city operator's cities or a channel admin's channels (platform admins only); reason required",
    tag="admin",
    body=ScopeChangeSchema,
    response=StaffSchema(),
    auth="staff",
    errors=(
        "auth.forbidden",
        "staff.not_found",
        "staff.not_scoped",
        "staff.scope_required",
        "staff.scope_not_allowed",
        "staff.invalid_scope",
        "staff.unknown_city",
        "staff.reason_required",
    ),
)
def rescope_staff(username: str, staff: StaffMember, payload: dict[str, Any]) -> StaffMember:
    """Each list sent replaces the old one whole; the member's tokens follow the new scope from their next request."""
    session = get_session()
    return rescope_staff_member(
        session,
        staff,
        username,
        cities=payload.get("cities"),
        channels=payload.get("channels"),
        reason=payload["reason"],
        now=current_app.extensions["clock"](),
        served_cities=served_cities(session),
    )


@blueprint.post("/staff/<username>/disable")
@operation(
    summary="Disable a staff account and end all its sessions (platform admins only); reason required",
    tag="admin",
    body=StaffChangeReasonSchema,
    response=StaffSchema(),
    auth="staff",
    errors=("auth.forbidden", "staff.not_found", "staff.cannot_disable_self", "staff.reason_required"),
)
def disable_staff(username: str, staff: StaffMember, payload: dict[str, Any]) -> StaffMember:
    """Disabling a disabled account changes nothing and answers the same."""
    return disable_staff_member(
        get_session(), staff, username, reason=payload["reason"], now=current_app.extensions["clock"]()
    )


@blueprint.post("/staff/<username>/unlock")
@operation(
    summary="Lift the lock failed logins put on a staff account, from every address (platform admins only)",
    tag="admin",
    body=StaffChangeReasonSchema,
    response=StaffSchema(),
    auth="staff",
    errors=("auth.forbidden", "staff.not_found", "staff.reason_required"),
)
def unlock_staff(username: str, staff: StaffMember, payload: dict[str, Any]) -> StaffMember:
    """Reason required; the unlock is audited."""
    return unlock_staff_member(
        get_session(),
        staff,
        current_app.extensions["attempts"],
        username,
        reason=payload["reason"],
        now=current_app.extensions["clock"](),
    )
