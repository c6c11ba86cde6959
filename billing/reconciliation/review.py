"""What channel admins do with runs and discrepancies: list them, read them, resolve them, approve (four eyes).

A resolution that moves money (a refund, a write-off) waits for a second channel admin; the
approval carries it out in the same transaction that marks it approved, under the discrepancy's
lock, so two approvers at once move the money once. Every step is in the audit log.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from billing.gateway import PaymentGateway
from billing.ledger import write_off
from billing.models import Payment
from billing.models import Refund
from billing.reconciliation import models as rc
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.reconciliation.runs import ask_for_run
from billing.refunds import request_refund
from database import transaction
from errors import Conflict
from errors import Forbidden
from errors import Invalid
from errors import NotFound
from identity.audit import reason_problem
from identity.audit import record_staff_action
from identity.models import StaffMember
from identity.roles import authorise

_RUN_ID = re.compile(r"rc[0-9a-f]{20}", re.ASCII)
_DISCREPANCY_ID = re.compile(r"dc[0-9a-f]{20}", re.ASCII)


@dataclass(frozen=True)
class RunFilter:
    """What runs are searched by; every part optional."""

    channel: str | None = None
    status: str | None = None
    day_from: date | None = None
    day_to: date | None = None
    limit: int = 100


@dataclass(frozen=True)
class DiscrepancyFilter:
    """What a run's discrepancies are listed by."""

    kind: str | None = None
    state: str | None = None
    limit: int = 500


def find_runs(session: Session, staff: StaffMember, wanted: RunFilter) -> Sequence[ReconciliationRun]:
    """Runs of the channels the staff member answers for, latest day first."""
    authorise(staff, "reconciliation.view")
    query = select(ReconciliationRun).order_by(ReconciliationRun.day.desc(), ReconciliationRun.id.desc())
    if staff.role == "channel_admin":
        query = query.where(ReconciliationRun.channel.in_(staff.channels))
    if wanted.channel is not None:
        query = query.where(ReconciliationRun.channel == wanted.channel)
    if wanted.status is not None:
        query = query.where(ReconciliationRun.status == wanted.status)
    if wanted.day_from is not None:
        query = query.where(ReconciliationRun.day >= wanted.day_from)
    if wanted.day_to is not None:
        query = query.where(ReconciliationRun.day <= wanted.day_to)
    return session.scalars(query.limit(wanted.limit)).all()


def ask_as_staff(
    session: Session, staff: StaffMember, channel: str, merchant_id: str, day: date, now: datetime
) -> ReconciliationRun:
    """A channel admin asks for a day's run of their channel; the asking is in the audit log."""
    authorise(staff, "reconciliation.run", channel=channel)

    def audit(db: Session, run: ReconciliationRun) -> None:
        record_staff_action(
            db,
            staff,
            action="reconciliation.run",
            target=f"reconciliation_run:{run.public_id}",
            reason=f"reconcile {channel} {merchant_id} {day.isoformat()}",
            at=now,
            after={"status": run.status, "asked": run.attempts},
            channel=channel,
        )

    return ask_for_run(session, channel, merchant_id, day, f"staff:{staff.id}", now, also=audit)


def run_of(session: Session, staff: StaffMember, public_id: str) -> ReconciliationRun:
    """One run; another channel's is not found."""
    authorise(staff, "reconciliation.view")
    run = None
    if _RUN_ID.fullmatch(public_id):
        run = session.scalar(select(ReconciliationRun).where(ReconciliationRun.public_id == public_id))
    if run is None or (staff.role == "channel_admin" and run.channel not in staff.channels):
        raise NotFound("reconciliation.run_not_found", "No such reconciliation run.")
    return run


def discrepancies_of(
    session: Session, staff: StaffMember, run_public_id: str, wanted: DiscrepancyFilter
) -> Sequence[Discrepancy]:
    """A run's discrepancies, in the bill's order (what the bill lacks last)."""
    run = run_of(session, staff, run_public_id)
    query = select(Discrepancy).where(Discrepancy.run_id == run.id)
    if wanted.kind is not None:
        query = query.where(Discrepancy.kind == wanted.kind)
    if wanted.state is not None:
        query = query.where(Discrepancy.state == wanted.state)
    order = (Discrepancy.bill_line.is_(None), Discrepancy.bill_line, Discrepancy.id)
    return session.scalars(query.order_by(*order).limit(wanted.limit)).all()


def discrepancy_of(session: Session, staff: StaffMember, public_id: str) -> tuple[Discrepancy, ReconciliationRun]:
    """One discrepancy with its run; another channel's is not found."""
    authorise(staff, "reconciliation.view")
    found = None
    if _DISCREPANCY_ID.fullmatch(public_id):
        found = session.scalar(select(Discrepancy).where(Discrepancy.public_id == public_id))
    if found is None or (staff.role == "channel_admin" and found.channel not in staff.channels):
        raise NotFound("reconciliation.discrepancy_not_found", "No such discrepancy.")
    run = session.get(ReconciliationRun, found.run_id)
    assert run is not None  # runs are never deleted
    return found, run


def payment_public_id(session: Session, discrepancy: Discrepancy) -> str | None:
    """The public id of the payment a discrepancy is about, if our books have it."""
    if discrepancy.payment_id is None:
        return None
    return session.scalar(select(Payment.public_id).where(Payment.id == discrepancy.payment_id))


def resolve(
    session: Session,
    staff: StaffMember,
    public_id: str,
    resolution: str,
    note: str,
    refund_fen: int | None,
    now: datetime,
) -> Discrepancy:
    """Resolve an open discrepancy; a refund or a write-off waits for a second channel admin's approval."""
    found, _ = discrepancy_of(session, staff, public_id)
    authorise(staff, "reconciliation.resolve", channel=found.channel)
    _check_note(note)
    if resolution not in rc.RESOLUTIONS:
        raise Invalid(
            "reconciliation.resolution_unknown",
            f"A resolution is one of {', '.join(rc.RESOLUTIONS)}.",
            {"resolution": "unknown"},
        )
    if resolution == rc.REFUNDED:
        _check_refund(found, refund_fen)
    with transaction(session):
        locked = _locked(session, found.id)
        if locked.state != rc.OPEN:
            raise Conflict(
                "reconciliation.already_resolved", "The discrepancy is already resolved.", {"state": locked.state}
            )
        locked.resolution, locked.note = resolution, note.strip()
        locked.refund_fen = refund_fen if resolution == rc.REFUNDED else None
        locked.resolved_by, locked.resolved_at, locked.updated_at = staff.id, now, now
        locked.state = rc.AWAITING_APPROVAL if resolution in rc.MOVES_MONEY else rc.RESOLVED
        _audit(session, staff, locked, "discrepancy.resolve", note, now)
    return locked


def approve(
    session: Session,
    staff: StaffMember,
    public_id: str,
    approved: bool,
    note: str,
    gateway_for: Callable[[Payment], PaymentGateway],
    notify_url_for: Callable[[PaymentGateway], str],
    clock: Callable[[], datetime],
) -> Discrepancy:
    """A second channel admin approves (the money moves) or sends back a resolution; never its maker."""
    found, run = discrepancy_of(session, staff, public_id)
    authorise(staff, "reconciliation.resolve", channel=found.channel)
    _check_note(note)
    _check_awaiting(found, staff)
    if not approved:
        with transaction(session):
            locked = _awaiting(session, found.id, staff)
            locked.state, locked.resolution, locked.refund_fen = rc.OPEN, None, None
            locked.resolved_by = locked.resolved_at = None
            locked.updated_at = clock()
            _audit(session, staff, locked, "discrepancy.send_back", note, clock())
        return locked
    if found.resolution == rc.REFUNDED and found.payment_id is not None and found.refund_fen is not None:
        payment = session.get(Payment, found.payment_id)
        assert payment is not None  # payments are never deleted
        gateway = gateway_for(payment)

        def approved_with(db: Session, paid: Payment, refund: Refund) -> None:
            _approved(db, staff, found.id, note, clock(), refund_id=refund.id)

        request_refund(
            session,
            gateway,
            payment.id,
            found.refund_fen,
            f"reconciliation {run.day.isoformat()}: {found.note}"[:256],
            f"staff:{found.resolved_by}+{staff.id}",
            notify_url_for(gateway),
            clock,
            also=approved_with,
        )
        session.refresh(found)
        return found
    with transaction(session):
        locked = _approved(session, staff, found.id, note, clock(), refund_id=None)
        if locked.resolution == rc.WRITTEN_OFF and locked.kind in rc.FLOW_KINDS:
            write_off(
                session,
                f"writeoff:{locked.public_id}",
                run.channel,
                run.merchant_id,
                locked.bill_fen - locked.ledger_fen,
                clock(),
                payment_id=locked.payment_id,
            )
    return locked


def _approved(
    session: Session, staff: StaffMember, discrepancy_id: int, note: str, now: datetime, *, refund_id: int | None
) -> Discrepancy:
    """Mark approved under the lock, in the transaction that moves the money."""
    locked = _awaiting(session, discrepancy_id, staff)
    locked.state, locked.approved_by, locked.approved_at, locked.updated_at = rc.RESOLVED, staff.id, now, now
    locked.refund_id = refund_id
    _audit(session, staff, locked, "discrepancy.approve", note, now)
    return locked


def _check_awaiting(found: Discrepancy, staff: StaffMember) -> None:
    if found.state != rc.AWAITING_APPROVAL:
        raise Conflict("reconciliation.not_awaiting_approval", "Nothing of this discrepancy waits for approval.")
    if found.resolved_by == staff.id:
        raise Forbidden("reconciliation.four_eyes", "A second channel admin must approve what you resolved.")


def _awaiting(session: Session, discrepancy_id: int, staff: StaffMember) -> Discrepancy:
    locked = _locked(session, discrepancy_id)
    _check_awaiting(locked, staff)
    return locked


def _check_note(note: str) -> None:
    problem = reason_problem(note)
    if problem:
        raise Invalid("reconciliation.note_required", problem, {"note": problem})


def _check_refund(found: Discrepancy, refund_fen: int | None) -> None:
    if found.payment_id is None:
        raise Conflict("reconciliation.nothing_to_refund", "Our books have no payment to refund for this discrepancy.")
    if refund_fen is None or refund_fen <= 0:
        raise Invalid(
            "billing.refund_amount_invalid", "A refund is a positive amount in fen.", {"refund_fen": "positive"}
        )


def _locked(session: Session, discrepancy_id: int) -> Discrepancy:
    return session.scalars(select(Discrepancy).where(Discrepancy.id == discrepancy_id).with_for_update()).one()


def _audit(session: Session, staff: StaffMember, found: Discrepancy, action: str, note: str, now: datetime) -> None:
    record_staff_action(
        session,
        staff,
        action=action,
        target=f"discrepancy:{found.public_id}",
        reason=note,
        at=now,
        after={
            "kind": found.kind,
            "state": found.state,
            "resolution": found.resolution,
            "refund_fen": found.refund_fen,
            "at_stake_fen": found.at_stake_fen,
        },
        channel=found.channel,
    )
