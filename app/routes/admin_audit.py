"""Reading the audit log."""

from __future__ import annotations

from typing import Any

from flask import Blueprint

from app.db_session import get_session
from app.operations import operation
from app.schemas.administration import AuditLogSchema
from app.schemas.administration import AuditQuerySchema
from identity.audit import read_audit_log
from identity.models import StaffMember

blueprint = Blueprint("admin_audit", __name__, url_prefix="/admin/api")


@blueprint.get("/audit-log")
@operation(
    summary="Staff changes, newest first, within the reader's scope",
    tag="admin",
    query=AuditQuerySchema,
    response=AuditLogSchema(),
    auth="staff",
    errors=("auth.forbidden", "auth.city_out_of_scope"),
)
def audit_log(staff: StaffMember, params: dict[str, Any]) -> dict[str, Any]:
    """Page with before_id: each page gives the id to pass for the next."""
    entries = read_audit_log(
        get_session(), staff, city=params.get("city"), before_id=params.get("before_id"), limit=params["limit"]
    )
    next_before = entries[-1].id if len(entries) == params["limit"] else None
    return {"entries": entries, "next_before_id": next_before}
