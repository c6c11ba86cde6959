"""chat_messages (each message once, by its channel's id), chat_followers and chat_menus

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-24 06:24:32.118276
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_menus",
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column(
            "menu", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column(
            "keywords", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("app_id", name=op.f("pk_chat_menus")),
    )
    op.create_table(
        "chat_followers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=128), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("location_sealed", sa.Text(), nullable=True),
        sa.Column("located_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("plate_sealed", sa.Text(), nullable=True),
        sa.Column("plate_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_chat_followers_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_followers")),
        sa.UniqueConstraint("channel", "app_id", "user_id", name=op.f("uq_chat_followers_channel_app_id_user_id")),
    )
    with op.batch_alter_table("chat_followers", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_followers_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "chat_messages",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("dedup_key", sa.String(length=160), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=True),
        sa.Column("intent", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("work_sealed", sa.Text(), nullable=True),
        sa.Column("reply_sealed", sa.Text(), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_chat_messages_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chat_messages")),
        sa.UniqueConstraint("channel", "app_id", "dedup_key", name=op.f("uq_chat_messages_channel_app_id_dedup_key")),
    )
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_chat_messages_received_at"), ["received_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_chat_messages_resident_id"), ["resident_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("chat_messages", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_messages_resident_id"))
        batch_op.drop_index(batch_op.f("ix_chat_messages_received_at"))

    op.drop_table("chat_messages")
    with op.batch_alter_table("chat_followers", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_chat_followers_resident_id"))

    op.drop_table("chat_followers")
    op.drop_table("chat_menus")
