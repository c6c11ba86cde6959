"""notice credits per resident, app and notice; a record of every notice tried

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 12:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "notice_credits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("credits", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("credits >= 0", name=op.f("ck_notice_credits_credits_not_negative")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_credits")),
        sa.UniqueConstraint(
            "resident_id", "app_id", "notice", name=op.f("uq_notice_credits_resident_id_app_id_notice")
        ),
    )
    op.create_index(op.f("ix_notice_credits_resident_id"), "notice_credits", ["resident_id"])
    op.create_table(
        "notice_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("notice", sa.String(length=64), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("app_id", sa.String(length=32), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notice_records")),
    )
    op.create_index(op.f("ix_notice_records_resident_id"), "notice_records", ["resident_id"])
    op.create_index(op.f("ix_notice_records_at"), "notice_records", ["at"])


def downgrade() -> None:
    op.drop_table("notice_records")
    op.drop_table("notice_credits")
