"""reconciliation_runs and discrepancies: the channels' daily bills matched against the books

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-24 03:15:45
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "reconciliation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("merchant_id", sa.String(length=64), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("failure", sa.String(length=256), nullable=True),
        sa.Column("bill_sha1", sa.String(length=40), nullable=True),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column(
            "summary", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column(
            "bad_lines", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reconciled_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "status IN ('queued', 'waiting', 'reconciled', 'failed')", name=op.f("ck_reconciliation_runs_status_known")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciliation_runs")),
        sa.UniqueConstraint("channel", "merchant_id", "day", name="uq_reconciliation_runs_day"),
        sa.UniqueConstraint("public_id", name=op.f("uq_reconciliation_runs_public_id")),
    )
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.create_index("ix_reconciliation_runs_day", ["day"], unique=False)

    op.create_table(
        "discrepancies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=128), nullable=False),
        sa.Column("kind", sa.String(length=24), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("out_trade_no", sa.String(length=64), nullable=False),
        sa.Column("out_refund_no", sa.String(length=64), nullable=True),
        sa.Column("payment_id", sa.Integer(), nullable=True),
        sa.Column("bill_line", sa.Integer(), nullable=True),
        sa.Column(
            "bill_record", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=True
        ),
        sa.Column("ledger_fen", sa.Integer(), nullable=False),
        sa.Column("bill_fen", sa.Integer(), nullable=False),
        sa.Column("at_stake_fen", sa.Integer(), nullable=False),
        sa.Column("detail", sa.String(length=256), nullable=False),
        sa.Column("state", sa.String(length=24), nullable=False),
        sa.Column("resolution", sa.String(length=24), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("refund_fen", sa.Integer(), nullable=True),
        sa.Column("resolved_by", sa.Integer(), nullable=True),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("approved_by", sa.Integer(), nullable=True),
        sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("refund_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('missing_in_ledger', 'missing_in_bill', 'amount_mismatch', 'status_mismatch', "
            "'paid_not_fulfilled', 'refund_not_settled', 'unexpected_fee')",
            name=op.f("ck_discrepancies_kind_known"),
        ),
        sa.CheckConstraint(
            "state IN ('open', 'awaiting_approval', 'resolved')", name=op.f("ck_discrepancies_state_known")
        ),
        sa.CheckConstraint(
            "approved_by IS NULL OR approved_by <> resolved_by", name=op.f("ck_discrepancies_four_eyes")
        ),
        sa.ForeignKeyConstraint(
            ["approved_by"], ["staff_members.id"], name=op.f("fk_discrepancies_approved_by_staff_members")
        ),
        sa.ForeignKeyConstraint(["payment_id"], ["payments.id"], name=op.f("fk_discrepancies_payment_id_payments")),
        sa.ForeignKeyConstraint(["refund_id"], ["refunds.id"], name=op.f("fk_discrepancies_refund_id_refunds")),
        sa.ForeignKeyConstraint(
            ["resolved_by"], ["staff_members.id"], name=op.f("fk_discrepancies_resolved_by_staff_members")
        ),
        sa.ForeignKeyConstraint(
            ["run_id"], ["reconciliation_runs.id"], name=op.f("fk_discrepancies_run_id_reconciliation_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_discrepancies")),
        sa.UniqueConstraint("public_id", name=op.f("uq_discrepancies_public_id")),
        sa.UniqueConstraint("run_id", "key", name="uq_discrepancies_run_key"),
    )
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_discrepancies_payment_id"), ["payment_id"], unique=False)
        batch_op.create_index("ix_discrepancies_run_kind_state", ["run_id", "kind", "state"], unique=False)
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.create_index("ix_payments_merchant_paid", ["merchant_id", "paid_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments", schema=None) as batch_op:
        batch_op.drop_index("ix_payments_merchant_paid")
    with op.batch_alter_table("discrepancies", schema=None) as batch_op:
        batch_op.drop_index("ix_discrepancies_run_kind_state")
        batch_op.drop_index(batch_op.f("ix_discrepancies_payment_id"))

    op.drop_table("discrepancies")
    with op.batch_alter_table("reconciliation_runs", schema=None) as batch_op:
        batch_op.drop_index("ix_reconciliation_runs_day")

    op.drop_table("reconciliation_runs")
