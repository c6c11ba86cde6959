"""housing fund: the data-access log of lookups, and briefly kept sealed answers

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 12:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "housing_fund_lookups",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("lookup", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("upstream", sa.String(length=64), nullable=False),
        sa.Column("outcome", sa.String(length=64), nullable=False),
        sa.Column("from_cache", sa.Boolean(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_housing_fund_lookups")),
    )
    op.create_index(op.f("ix_housing_fund_lookups_resident_id"), "housing_fund_lookups", ["resident_id"])
    op.create_index(op.f("ix_housing_fund_lookups_at"), "housing_fund_lookups", ["at"])
    op.create_table(
        "housing_fund_answers",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("answer_sealed", sa.Text(), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_housing_fund_answers")),
    )
    op.create_index(op.f("ix_housing_fund_answers_resident_id"), "housing_fund_answers", ["resident_id"])
    op.create_index(op.f("ix_housing_fund_answers_expires_at"), "housing_fund_answers", ["expires_at"])


def downgrade() -> None:
    op.drop_table("housing_fund_answers")
    op.drop_table("housing_fund_lookups")
