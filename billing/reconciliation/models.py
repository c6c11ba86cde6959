"""What reconciliation keeps: one run per channel merchant and Beijing day, and the differences it found.

A run's summary and its discrepancies are rewritten only by matching the same day again; a
discrepancy's review (resolution, approval) is its own and survives a re-import of the bill.
"""

from __future__ import annotations

from datetime import date
from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint
from sqlalchemy import Date
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime

# A run: asked for, waiting for the channel to make its bill, done, or stopped for a reason.
QUEUED, WAITING, RECONCILED, FAILED = "queued", "waiting", "reconciled", "failed"
RUN_STATUSES = (QUEUED, WAITING, RECONCILED, FAILED)

# What a difference is.
MISSING_IN_LEDGER = "missing_in_ledger"
MISSING_IN_BILL = "missing_in_bill"
AMOUNT_MISMATCH = "amount_mismatch"
STATUS_MISMATCH = "status_mismatch"
PAID_NOT_FULFILLED = "paid_not_fulfilled"
REFUND_NOT_SETTLED = "refund_not_settled"
UNEXPECTED_FEE = "unexpected_fee"
KINDS = (
    MISSING_IN_LEDGER,
    MISSING_IN_BILL,
    AMOUNT_MISMATCH,
    STATUS_MISMATCH,
    PAID_NOT_FULFILLED,
    REFUND_NOT_SETTLED,
    UNEXPECTED_FEE,
)
# The kinds that are a difference between what moved by the bill and what moved by our books.
FLOW_KINDS = (MISSING_IN_LEDGER, MISSING_IN_BILL, AMOUNT_MISMATCH, STATUS_MISMATCH)

# A discrepancy under review: open, resolved, or resolved pending a second admin's approval.
OPEN, AWAITING_APPROVAL, RESOLVED = "open", "awaiting_approval", "resolved"
STATES = (OPEN, AWAITING_APPROVAL, RESOLVED)
ACCEPTED, REFUNDED, WRITTEN_OFF, FIXED_UPSTREAM = "accepted", "refunded", "written_off", "fixed_upstream"
RESOLUTIONS = (ACCEPTED, REFUNDED, WRITTEN_OFF, FIXED_UPSTREAM)
# Resolutions that move money: a second channel admin must approve them.
MOVES_MONEY = (REFUNDED, WRITTEN_OFF)


class ReconciliationRun(Base):
    """One channel merchant's bill for one Beijing day, matched against our books and the hospitals'."""

    __tablename__ = "reconciliation_runs"
    __table_args__ = (
        UniqueConstraint("channel", "merchant_id", "day", name="uq_reconciliation_runs_day"),
        CheckConstraint(f"status IN {RUN_STATUSES}", name="status_known"),
        Index("ix_reconciliation_runs_day", "day"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    channel: Mapped[str] = mapped_column(String(16))
    merchant_id: Mapped[str] = mapped_column(String(64))
    day: Mapped[date] = mapped_column(Date)
    status: Mapped[str] = mapped_column(String(16))
    # Why a run failed (a bill whose hash did not match, an unreadable file), in words for the admin.
    failure: Mapped[str | None] = mapped_column(String(256), nullable=True)
    # The bill matched last: the same bill imported again changes nothing.
    bill_sha1: Mapped[str | None] = mapped_column(String(40), nullable=True)
    # "schedule", "command" or "staff:<id>".
    requested_by: Mapped[str] = mapped_column(String(64))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # Counts and totals per side, fees and net settlement (billing/reconciliation/matching.py Summary).
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    # The first lines the bill could not be read at: [{"line": n, "reason": "..."}].
    bad_lines: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONDocument, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class Discrepancy(Base):
    """One difference between the bill, our books and the hospital, with the money at stake and its review."""

    __tablename__ = "discrepancies"
    __table_args__ = (
        UniqueConstraint("run_id", "key", name="uq_discrepancies_run_key"),
        CheckConstraint(f"kind IN {KINDS}", name="kind_known"),
        CheckConstraint(f"state IN {STATES}", name="state_known"),
        CheckConstraint("approved_by IS NULL OR approved_by <> resolved_by", name="four_eyes"),
        Index("ix_discrepancies_run_kind_state", "run_id", "kind", "state"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("reconciliation_runs.id"))
    # Stable for the same bill: "payment:<out_trade_no>", "refund:<out_refund_no>", "fee:<out_trade_no>"...
    key: Mapped[str] = mapped_column(String(128))
    kind: Mapped[str] = mapped_column(String(24))
    channel: Mapped[str] = mapped_column(String(16))
    out_trade_no: Mapped[str] = mapped_column(String(64))
    out_refund_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True, index=True)
    bill_line: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # What the bill said of its line (time, amounts, the channel's numbers), to read beside the payment's story.
    bill_record: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    # Signed as money moves through the channel: a payment in is positive, a refund out negative.
    ledger_fen: Mapped[int] = mapped_column(Integer)
    bill_fen: Mapped[int] = mapped_column(Integer)
    at_stake_fen: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(String(256))
    state: Mapped[str] = mapped_column(String(24))
    resolution: Mapped[str | None] = mapped_column(String(24), nullable=True)
    note: Mapped[str | None] = mapped_column(Text, nullable=True)
    refund_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    resolved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    approved_by: Mapped[int | None] = mapped_column(ForeignKey("staff_members.id"), nullable=True)
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
