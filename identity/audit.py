"""The audit log: every staff change, with who, what, before, after, when and why."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from errors import Invalid
from identity.models import AuditEntry
from identity.models import StaffMember
from identity.roles import authorise
from text_rules import text_problem

MAX_REASON_LENGTH = 500


def reason_problem(reason: object) -> str | None:
    """Why a staff member's reason for a change is not acceptable (blank, too long, control characters), or None."""
    problem = text_problem(reason, max_length=MAX_REASON_LENGTH)
    return f"Say why you are making this change. {problem}" if problem else None


def record_staff_action(
    session: Session,
    actor: StaffMember,
    *,
    action: str,
    target: str,
    reason: str,
    at: datetime,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
    city_code: str | None = None,
    channel: str | None = None,
) -> AuditEntry:
    """Add an audit entry inside the caller's transaction, so it lands with the change or not at all."""
    # Use-cases check the reason first with their own code; this is the last line for any new one.
    problem = reason_problem(reason)
    if problem:
        raise Invalid("audit.reason_required", problem)
    entry = AuditEntry(
        at=at,
        actor_id=actor.id,
        actor_username=actor.username,
        action=action,
        target=target,
        city_code=city_code,
        channel=channel,
        before=before,
        after=after,
        reason=reason.strip(),
    )
    session.add(entry)
    return entry


def read_audit_log(
    session: Session,
    reader: StaffMember,
    *,
    city: str | None = None,
    before_id: int | None = None,
    limit: int = 50,
    actor: str | None = None,
    action: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    target: str | None = None,
) -> Sequence[AuditEntry]:
    """Newest entries first, limited to what the reader's role and scope let them see.

    :param actor: only this staff member's (username) entries; :param action: only this action;
    :param since: and :param until: only entries at or after, and before, these moments;
    :param target: only entries about this ("discrepancy:dc..."), e.g. one discrepancy's review history.
    """
    authorise(reader, "audit.read", city=city)
    query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
    if city is not None:
        query = query.where(AuditEntry.city_code == city)
    if actor is not None:
        query = query.where(AuditEntry.actor_username == actor)
    if action is not None:
        query = query.where(AuditEntry.action == action)
    if since is not None:
        query = query.where(AuditEntry.at >= since)
    if until is not None:
        query = query.where(AuditEntry.at < until)
    if before_id is not None:
        query = query.where(AuditEntry.id < before_id)
    if target is not None:
        query = query.where(AuditEntry.target == target)
    if reader.role == "city_operator":
        query = query.where(AuditEntry.city_code.in_(reader.cities))
    elif reader.role == "channel_admin":
        query = query.where(AuditEntry.channel.in_(reader.channels))
    return session.scalars(query).all()
