"""allowance_marks: what an erased person had used of their limits, under keyed hashes only

Erasing a resident must not reset a monthly quota, a cooldown or a weekly cap. Each mark holds a
keyed hash of a channel account, a verified ID number or a plate, a keyed hash of its scope, and
the window it counts in; nothing that names a person.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-23 16:05:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "allowance_marks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=48), nullable=False),
        sa.Column("scope", sa.String(length=64), nullable=False),
        sa.Column("event", sa.String(length=32), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_allowance_marks")),
    )
    with op.batch_alter_table("allowance_marks", schema=None) as batch_op:
        batch_op.create_index("ix_allowance_marks_subject_kind", ["subject", "kind", "scope"], unique=False)
        batch_op.create_index(batch_op.f("ix_allowance_marks_until"), ["until"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("allowance_marks", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_allowance_marks_until"))
        batch_op.drop_index("ix_allowance_marks_subject_kind")
    op.drop_table("allowance_marks")
