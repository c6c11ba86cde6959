"""Staff log in and out of the admin API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from flask import Blueprint
from flask import current_app
from flask import request

from app.auth import bearer_token
from app.db_session import get_session
from app.operations import operation
from app.schemas.staff import StaffLoginSchema
from app.schemas.staff import StaffSchema
from app.schemas.staff import StaffSessionSchema
from identity.models import StaffMember
from identity.staff import log_in
from identity.staff import log_out

blueprint = Blueprint("admin_sessions", __name__, url_prefix="/admin/api")


@blueprint.post("/sessions")
@operation(
    summary="Log in as staff and receive an expiring bearer token",
    tag="admin",
    body=StaffLoginSchema,
    response=StaffSessionSchema(),
    status=201,
    errors=("auth.invalid_credentials", "auth.locked", "auth.too_many_attempts", "limits.unavailable"),
)
def create_session(payload: dict[str, str]) -> Any:
    """Check the credentials; failures from one address lock that address, or a username there, a while."""
    settings = current_app.extensions["settings"]
    login = log_in(
        get_session(),
        payload["username"],
        payload["password"],
        source=request.remote_addr,
        attempts=current_app.extensions["attempts"],
        now=current_app.extensions["clock"](),
        lifetime=timedelta(minutes=settings.staff_token_minutes),
    )
    return {"token": login.token.token, "expires_at": login.token.expires_at, "staff": login.staff}


@blueprint.delete("/sessions/current")
@operation(summary="Log out: revoke this token at once", tag="admin", status=204, auth="staff")
def delete_session(staff: StaffMember) -> None:
    """Revoke the token the request came with."""
    log_out(get_session(), bearer_token(), now=current_app.extensions["clock"]())


@blueprint.get("/me")
@operation(summary="The staff member the token belongs to", tag="admin", response=StaffSchema(), auth="staff")
def me(staff: StaffMember) -> StaffMember:
    """Who am I, with my role and scope."""
    return staff
