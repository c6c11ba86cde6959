"""What billing keeps: payments, refunds, the notifications the channels sent, and the ledger.

Money is integer fen. The ledger is append-only: the database itself refuses to update or delete a
posting (triggers, created with the tables and by the migration), so history cannot be rewritten.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import DDL
from sqlalchemy import CheckConstraint
from sqlalchemy import ForeignKey
from sqlalchemy import Index
from sqlalchemy import Integer
from sqlalchemy import String
from sqlalchemy import Text
from sqlalchemy import UniqueConstraint
from sqlalchemy.orm import Mapped
from sqlalchemy.orm import mapped_column

from billing.statuses import PAYMENT_STATUSES
from billing.statuses import REFUND_STATUSES
from database import Base
from database.types import JSONDocument
from database.types import UTCDateTime


class Payment(Base):
    """One order a resident pays through one channel's merchant, for one purpose (e.g. an appointment's fee)."""

    __tablename__ = "payments"
    __table_args__ = (
        CheckConstraint(f"status IN {PAYMENT_STATUSES}", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        CheckConstraint("refunded_fen >= 0 AND refunded_fen <= amount_fen", name="refunded_within_amount"),
        UniqueConstraint("purpose", "purpose_ref", name="uq_payments_purpose_ref"),
        Index("ix_payments_status_created", "status", "created_at"),
        # Reconciliation reads a merchant's payments of a day.
        Index("ix_payments_merchant_paid", "merchant_id", "paid_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # What the resident's front end knows it by.
    public_id: Mapped[str] = mapped_column(String(32), unique=True)
    # Our order number at the channel: every notification and query names it.
    out_trade_no: Mapped[str] = mapped_column(String(32), unique=True)
    # What the money is for, e.g. ("outpatient", the appointment's id); billing never looks inside.
    purpose: Mapped[str] = mapped_column(String(32))
    purpose_ref: Mapped[str] = mapped_column(String(64))
    # None once the resident is erased: the payment stays (the books must), the person goes.
    resident_id: Mapped[int | None] = mapped_column(ForeignKey("residents.id"), nullable=True, index=True)
    city_code: Mapped[str] = mapped_column(String(6))
    service_code: Mapped[str] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    app_id: Mapped[str] = mapped_column(String(64))
    merchant_id: Mapped[str] = mapped_column(String(64))
    # The adapter that placed the order, so a later change of merchant does not lose whom to ask.
    gateway: Mapped[str] = mapped_column(String(64))
    amount_fen: Mapped[int] = mapped_column(Integer)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    description: Mapped[str] = mapped_column(String(128))
    status: Mapped[str] = mapped_column(String(24))
    # The channel's number for the payment (WeChat transaction_id, Alipay trade_no), once known.
    channel_trade_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    # What the front end passes to wx.requestPayment or my.tradePay; None until the channel answered.
    checkout: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument, nullable=True)
    # The sum of succeeded refunds; the status says the same in words.
    refunded_fen: Mapped[int] = mapped_column(Integer, default=0)
    # Until when the payer may pay; after it the order is closed at the channel.
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    paid_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Refund(Base):
    """Money given back on a payment, in part or in full; its number is fixed before the channel is asked."""

    __tablename__ = "refunds"
    __table_args__ = (
        CheckConstraint(f"status IN {REFUND_STATUSES}", name="status_known"),
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_refunds_status_updated", "status", "updated_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    out_refund_no: Mapped[str] = mapped_column(String(64), unique=True)
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(256))
    # Who asked: "resident", "saga:<why>" or "staff:<id>".
    requested_by: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16))
    channel_refund_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class PaymentNotification(Base):
    """A verified notification as the channel sent it (sealed: it names the payer), and what we did with it."""

    __tablename__ = "payment_notifications"
    __table_args__ = (UniqueConstraint("channel", "event_id", name="uq_payment_notifications_event"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    # The channel's id of the notification (WeChat `id`, Alipay `notify_id`); retries repeat it.
    event_id: Mapped[str] = mapped_column(String(128))
    payment_id: Mapped[int] = mapped_column(ForeignKey("payments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    out_refund_no: Mapped[str | None] = mapped_column(String(64), nullable=True)
    raw_sealed: Mapped[str] = mapped_column(Text)
    # applied (it changed something) or duplicate (it told us what we knew), and how many copies came.
    outcome: Mapped[str] = mapped_column(String(16))
    copies: Mapped[int] = mapped_column(Integer, default=1)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime)
    last_received_at: Mapped[datetime] = mapped_column(UTCDateTime)


class NotificationNonce(Base):
    """A signed delivery already seen: the same signature presented again is a replay."""

    __tablename__ = "notification_nonces"

    channel: Mapped[str] = mapped_column(String(16), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)


def append_only_ddl(dialect: str, table: str) -> list[str]:
    """The statements that make a table refuse UPDATE and DELETE on one database."""
    if dialect == "postgresql":
        return [
            REFUSE_LEDGER_CHANGE,
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION refuse_ledger_change()",
        ]
    return [
        f"CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END",
        f"CREATE TRIGGER {table}_no_delete BEFORE DELETE ON {table} "
        "BEGIN SELECT RAISE(ABORT, 'the ledger is append-only'); END",
    ]


REFUSE_LEDGER_CHANGE = (
    "CREATE OR REPLACE FUNCTION refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS "
    "$$ BEGIN RAISE EXCEPTION 'the ledger is append-only'; END $$"
)


def append_only(table: str) -> list[tuple[str, DDL]]:
    """Table listeners that create the append-only triggers whenever the models create the table."""
    return [
        ("after_create", DDL(statement).execute_if(dialect=dialect))  # type: ignore[no-untyped-call]
        for dialect in ("postgresql", "sqlite")
        for statement in append_only_ddl(dialect, table)
    ]


class LedgerEntry(Base):
    """One balanced movement of money; its key makes posting it twice impossible."""

    __tablename__ = "ledger_entries"
    __table_args__ = {"listeners": append_only("ledger_entries")}

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    # e.g. "paid:<out_trade_no>", "refund:<out_refund_no>": one effect per event, by the database's word.
    key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    payment_id: Mapped[int | None] = mapped_column(ForeignKey("payments.id"), nullable=True, index=True)
    refund_id: Mapped[int | None] = mapped_column(ForeignKey("refunds.id"), nullable=True)
    posted_at: Mapped[datetime] = mapped_column(UTCDateTime)


class LedgerLine(Base):
    """One side of an entry: a signed amount on one account (debit positive, credit negative)."""

    __tablename__ = "ledger_lines"
    __table_args__ = (
        CheckConstraint("amount_fen <> 0", name="amount_not_zero"),
        {"listeners": append_only("ledger_lines")},
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    entry_id: Mapped[int] = mapped_column(ForeignKey("ledger_entries.id"), index=True)
    account: Mapped[str] = mapped_column(String(96), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)


class OutboxTask(Base):
    """Work that must happen after a commit (fulfil a paid order, retry a refund), written in the same transaction.

    A task runs after the commit (on Celery when configured, in-process otherwise); the sweep runs
    any task still due, so a lost task or a crash between commit and run loses nothing.
    """

    __tablename__ = "outbox_tasks"
    __table_args__ = (
        UniqueConstraint("kind", "ref", name="uq_outbox_tasks_kind_ref"),
        Index("ix_outbox_tasks_due", "done_at", "due_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    # What the task is about, e.g. a payment's out_trade_no.
    ref: Mapped[str] = mapped_column(String(64))
    due_at: Mapped[datetime] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str | None] = mapped_column(String(128), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
