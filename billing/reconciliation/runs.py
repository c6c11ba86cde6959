"""Reconciliation runs: asked for (by the schedule, the command or an admin), carried out, idempotent by the bill.

A run is one row per channel merchant and Beijing day. Asking again queues it again; carrying it
out downloads the day's bill (outside any transaction), and matches it in one transaction under
the run's lock. The same bill matched again changes nothing; a bill not made yet leaves the run
waiting and its task retried; a bill that cannot be trusted fails the run with the reason.
"""

from __future__ import annotations

import logging
import secrets
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from dataclasses import field
from datetime import date
from datetime import datetime
from datetime import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import delete
from sqlalchemy import select
from sqlalchemy import update
from sqlalchemy.orm import Session

from billing.bill_lines import BEIJING
from billing.bill_lines import UnreadableBill
from billing.bills import read_bill
from billing.gateway import BillNotReady
from billing.gateway import BillRefused
from billing.gateway import DayBill
from billing.gateway import PaymentGateway
from billing.ledger import post_channel_fee
from billing.outbox import enqueue
from billing.reconciliation.matching import STANDARD_FEE_PER_TEN_THOUSAND
from billing.reconciliation.matching import Found
from billing.reconciliation.matching import FulfilmentChecks
from billing.reconciliation.matching import Matching
from billing.reconciliation.matching import unfulfilled_payments
from billing.reconciliation.models import FAILED
from billing.reconciliation.models import OPEN
from billing.reconciliation.models import QUEUED
from billing.reconciliation.models import RECONCILED
from billing.reconciliation.models import WAITING
from billing.reconciliation.models import Discrepancy
from billing.reconciliation.models import ReconciliationRun
from billing.wechat_blocks import WeChatBlocks
from database import transaction
from database.transaction import end_reads
from database.transaction import insert_or_skip
from errors import UpstreamUnavailable

log = logging.getLogger("citytiles.reconciliation")
RECONCILE = "reconcile"
# What a run records as its bill when the channel made none for the day.
NO_BILL = "none"
# The channels make the day's bills by about 10:00 the next morning (Beijing).
BILLS_READY_AT = 10


@dataclass(frozen=True)
class Reconciler:
    """What reconciliation needs of the outside world: each merchant's gateway, the fulfilment checks, a clock."""

    gateway_for: Callable[[str, str], PaymentGateway]
    merchants: Callable[[], list[tuple[str, str]]]
    clock: Callable[[], datetime]
    checks: FulfilmentChecks = field(default_factory=dict)
    fee_per_ten_thousand: int = STANDARD_FEE_PER_TEN_THOUSAND
    # WeChat bills read a block at a time, their plain payment lines that agree passed in bulk; off, every
    # line is read and matched one at a time (the same result: a test holds both to it).
    plain_runs: bool = True


def new_run_id() -> str:
    """A run's public id."""
    return "rc" + secrets.token_hex(10)


def new_discrepancy_id() -> str:
    """A discrepancy's public id."""
    return "dc" + secrets.token_hex(10)


def ask_for_run(
    session: Session,
    channel: str,
    merchant_id: str,
    day: date,
    requested_by: str,
    now: datetime,
    *,
    also: Callable[[Session, ReconciliationRun], None] | None = None,
) -> ReconciliationRun:
    """The merchant's run for the day, queued to be carried out (again): two askers at once get the same run.

    :param also: more to write in the same transaction (e.g. the asking admin's audit entry).
    """
    with transaction(session):
        session.execute(
            insert_or_skip(session)(ReconciliationRun.__table__)
            .values(
                public_id=new_run_id(),
                channel=channel,
                merchant_id=merchant_id,
                day=day,
                status=QUEUED,
                requested_by=requested_by,
                attempts=0,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["channel", "merchant_id", "day"])
        )
        run = session.scalars(
            select(ReconciliationRun)
            .where(
                ReconciliationRun.channel == channel,
                ReconciliationRun.merchant_id == merchant_id,
                ReconciliationRun.day == day,
            )
            .with_for_update()
        ).one()
        # A reconciled run keeps its summary in sight while the bill is fetched again.
        if run.status != RECONCILED:
            run.status = QUEUED
        run.attempts += 1
        run.requested_by = requested_by
        run.updated_at = now
        enqueue(session, RECONCILE, f"{run.public_id}:{run.attempts}", now)
        if also is not None:
            also(session, run)
    return run


def ask_for_due_runs(session: Session, reconciler: Reconciler) -> list[ReconciliationRun]:
    """Yesterday's runs of every merchant, once the channels have made their bills (the schedule's task)."""
    now = reconciler.clock()
    local = now.astimezone(BEIJING)
    if local.hour < BILLS_READY_AT:
        return []
    day = local.date() - timedelta(days=1)
    asked = []
    for channel, merchant_id in reconciler.merchants():
        existing = session.scalar(
            select(ReconciliationRun.status).where(
                ReconciliationRun.channel == channel,
                ReconciliationRun.merchant_id == merchant_id,
                ReconciliationRun.day == day,
            )
        )
        if existing is None:
            asked.append(ask_for_run(session, channel, merchant_id, day, "schedule", now))
    return asked


def carry_out_task(session: Session, reconciler: Reconciler, ref: str) -> None:
    """The outbox task of a run: "<run public id>:<how many times asked>"."""
    carry_out(session, reconciler, ref.split(":", 1)[0])


def carry_out(session: Session, reconciler: Reconciler, public_id: str) -> ReconciliationRun | None:
    """Download the run's bill and match it; BillNotReady leaves the run waiting and raises to be retried."""
    run = session.scalar(select(ReconciliationRun).where(ReconciliationRun.public_id == public_id))
    if run is None:
        return None
    run_id, channel, merchant_id, day = run.id, run.channel, run.merchant_id, run.day
    end_reads(session)
    gateway = reconciler.gateway_for(channel, merchant_id)
    with tempfile.TemporaryDirectory(prefix="citytiles-bill-") as folder:
        try:
            bill: DayBill | None = gateway.bill(day, Path(folder))
        except BillNotReady as not_ready:
            if reconciler.clock() < _no_bill_after(day):
                _settle(session, run_id, WAITING, None, reconciler.clock())
                raise UpstreamUnavailable(
                    "billing.bill_not_ready", "The channel has not made the day's bill yet.", retry_after=600
                ) from not_ready
            # Long past the day and still no bill: the channel says nothing moved, so match our books against that.
            bill = None
        except BillRefused as refused:
            log.warning("a bill was refused", extra={"channel": channel, "reason": refused.reason})
            return _settle(session, run_id, FAILED, refused.reason, reconciler.clock())
        # The hospitals are asked first, with no transaction open; the matching then runs under the lock.
        unfulfilled = unfulfilled_payments(session, channel, merchant_id, day, reconciler.checks)
        end_reads(session)
        try:
            return _match(session, reconciler, run_id, bill, unfulfilled)
        except UnreadableBill as unreadable:
            return _settle(session, run_id, FAILED, f"the bill cannot be read: {unreadable}"[:256], reconciler.clock())


def _no_bill_after(day: date) -> datetime:
    """When a bill still not made means there is none: the day after next, at the hour bills are ready."""
    return datetime.combine(day + timedelta(days=2), time(BILLS_READY_AT), BEIJING)


def _settle(session: Session, run_id: int, status: str, failure: str | None, now: datetime) -> ReconciliationRun:
    with transaction(session):
        run = _locked(session, run_id)
        if run.status != RECONCILED or status == FAILED:
            run.status, run.failure = status, failure
        run.updated_at = now
    return run


def _match(
    session: Session, reconciler: Reconciler, run_id: int, bill: DayBill | None, unfulfilled: frozenset[int]
) -> ReconciliationRun:
    sha1 = bill.sha1 if bill is not None else NO_BILL
    with transaction(session):
        run = _locked(session, run_id)
        if run.status == RECONCILED and run.bill_sha1 == sha1:
            return run  # the same bill again: nothing changes
        now = reconciler.clock()
        matching = Matching(
            session,
            run.channel,
            run.merchant_id,
            run.day,
            fee_per_ten_thousand=reconciler.fee_per_ten_thousand,
            unfulfilled=unfulfilled,
            now=now,
        )
        if bill is None:
            summary = {**matching.finish(None), "no_bill": True}
        else:
            with read_bill(bill) as reader:
                if reconciler.plain_runs and isinstance(reader, WeChatBlocks):
                    matching.feed_runs(reader.runs())
                else:
                    matching.feed(reader.entries())
                summary = matching.finish(reader.summary)
        _keep_found(session, run, matching.found, now)
        post_channel_fee(session, run.channel, run.merchant_id, run.day, summary["bill"]["fee_fen"], sha1, now)
        run.status, run.failure, run.bill_sha1 = RECONCILED, None, sha1
        run.summary, run.bad_lines = summary, matching.tally.bad_lines
        run.reconciled_at = run.updated_at = now
    log.info(
        "a bill was reconciled",
        extra={
            "channel": run.channel,
            "day": run.day.isoformat(),
            "discrepancies": len(matching.found),
            "passed_in_bulk": matching.passed_lines,
        },
    )
    return run


def _keep_found(session: Session, run: ReconciliationRun, found: list[Found], now: datetime) -> None:
    """Store what this bill shows: a difference found again keeps its id, reviewed ones keep their review.

    Keyed by content, not by the file: Alipay writes its export time into each download, and the
    same bill fetched twice must still change nothing.
    """
    unreviewed = {
        row.key: row
        for row in session.execute(
            select(Discrepancy.id, Discrepancy.key, *(getattr(Discrepancy, name) for name in _FACTS)).where(
                Discrepancy.run_id == run.id, Discrepancy.state == OPEN, Discrepancy.resolution.is_(None)
            )
        )
    }
    fresh = {item.key[:128]: item for item in found}
    stale = [row.id for key, row in unreviewed.items() if key not in fresh or _facts(row) != _facts(fresh[key])]
    for start in range(0, len(stale), 1000):
        session.execute(delete(Discrepancy).where(Discrepancy.id.in_(stale[start : start + 1000])))
    kept = {key for key, row in unreviewed.items() if key in fresh and _facts(row) == _facts(fresh[key])}
    for key in kept:  # the same difference, perhaps on another line of a changed bill
        session.execute(
            update(Discrepancy)
            .where(Discrepancy.id == unreviewed[key].id)
            .values(bill_line=fresh[key].bill_line, bill_record=fresh[key].bill_record)
        )
    rows = [_discrepancy_row(run, item, now) for key, item in fresh.items() if key not in kept]
    for start in range(0, len(rows), 1000):
        session.execute(
            insert_or_skip(session)(Discrepancy.__table__).on_conflict_do_nothing(index_elements=["run_id", "key"]),
            rows[start : start + 1000],
        )


# What a discrepancy says: found again with other facts, an unreviewed one is replaced.
_FACTS = ("kind", "ledger_fen", "bill_fen", "at_stake_fen", "detail", "payment_id")


def _facts(item: Any) -> tuple[Any, ...]:
    return tuple(getattr(item, name) for name in _FACTS)


def _discrepancy_row(run: ReconciliationRun, found: Found, now: datetime) -> dict[str, Any]:
    return {
        "public_id": new_discrepancy_id(),
        "run_id": run.id,
        "key": found.key[:128],
        "kind": found.kind,
        "channel": run.channel,
        "out_trade_no": found.out_trade_no,
        "out_refund_no": found.out_refund_no,
        "payment_id": found.payment_id,
        "bill_line": found.bill_line,
        "bill_record": found.bill_record,
        "ledger_fen": found.ledger_fen,
        "bill_fen": found.bill_fen,
        "at_stake_fen": found.at_stake_fen,
        "detail": found.detail,
        "state": OPEN,
        "created_at": now,
        "updated_at": now,
    }


def _locked(session: Session, run_id: int) -> ReconciliationRun:
    return session.scalars(select(ReconciliationRun).where(ReconciliationRun.id == run_id).with_for_update()).one()
