"""attempt counts replace login throttles

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 06:18:49.716397
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "attempt_counts",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("window_ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_attempt_counts")),
    )
    with op.batch_alter_table("attempt_counts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_attempt_counts_subject"), ["subject"], unique=False)
        batch_op.create_index(batch_op.f("ix_attempt_counts_window_ends_at"), ["window_ends_at"], unique=False)

    # Throttles keyed by raw usernames are not carried over: they held usernames (and mistyped
    # passwords) in clear, and any lock they recorded ends within fifteen minutes anyway.
    op.drop_table("login_throttles")


def downgrade() -> None:

    op.create_table(
        "login_throttles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_throttles")),
    )
    with op.batch_alter_table("attempt_counts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_attempt_counts_window_ends_at"))
        batch_op.drop_index(batch_op.f("ix_attempt_counts_subject"))

    op.drop_table("attempt_counts")
