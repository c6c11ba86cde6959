"""channel unions and login throttles

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22 05:08:49.945818
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "login_throttles",
        sa.Column("username", sa.String(length=64), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("last_failed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username", name=op.f("pk_login_throttles")),
    )
    op.create_table(
        "channel_unions",
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("unionid", sa.String(length=128), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_channel_unions_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("channel", "unionid", name=op.f("pk_channel_unions")),
    )
    with op.batch_alter_table("channel_unions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_channel_unions_resident_id"), ["resident_id"], unique=False)

    # Residents created before this table: each unionid goes to the first resident that had it.
    op.execute(
        "INSERT INTO channel_unions (channel, unionid, resident_id) "
        "SELECT channel, unionid, MIN(resident_id) FROM channel_identities "
        "WHERE unionid IS NOT NULL GROUP BY channel, unionid"
    )

    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.drop_column("failed_logins")
        batch_op.drop_column("locked_until")


def downgrade() -> None:

    with op.batch_alter_table("staff_members", schema=None) as batch_op:
        batch_op.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("failed_logins", sa.Integer(), nullable=False, server_default="0"))

    with op.batch_alter_table("channel_unions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_unions_resident_id"))

    op.drop_table("channel_unions")
    op.drop_table("login_throttles")
