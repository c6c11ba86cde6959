"""residents, channel identities, consent and merges

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22 04:38:36.252848
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:

    op.create_table(
        "residents",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("real_name_sealed", sa.Text(), nullable=True),
        sa.Column("id_number_sealed", sa.Text(), nullable=True),
        sa.Column("id_number_lookup", sa.String(length=64), nullable=True),
        sa.Column("phone_sealed", sa.Text(), nullable=True),
        sa.Column("phone_lookup", sa.String(length=64), nullable=True),
        sa.Column("assurance_level", sa.String(length=32), nullable=False),
        sa.Column("real_name_verified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("real_name_verified_by", sa.String(length=64), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("erased_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["residents.id"], name=op.f("fk_residents_merged_into_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_residents")),
        sa.UniqueConstraint("public_id", name=op.f("uq_residents_public_id")),
    )
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_residents_phone_lookup"), ["phone_lookup"], unique=False)
        batch_op.create_index(
            "uq_residents_id_number_lookup",
            ["id_number_lookup"],
            unique=True,
            postgresql_where=sa.text("id_number_lookup IS NOT NULL"),
            sqlite_where=sa.text("id_number_lookup IS NOT NULL"),
        )

    op.create_table(
        "channel_identities",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("app_id", sa.String(length=32), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=False),
        sa.Column("unionid", sa.String(length=128), nullable=True),
        sa.Column("channel_secret_sealed", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_channel_identities_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_channel_identities")),
        sa.UniqueConstraint(
            "channel", "app_id", "external_id", name=op.f("uq_channel_identities_channel_app_id_external_id")
        ),
    )
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.create_index("ix_channel_identities_channel_unionid", ["channel", "unionid"], unique=False)
        batch_op.create_index(batch_op.f("ix_channel_identities_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "consent_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("purpose", sa.String(length=64), nullable=False),
        sa.Column("text_version", sa.String(length=64), nullable=False),
        sa.Column("given_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["resident_id"], ["residents.id"], name=op.f("fk_consent_records_resident_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_consent_records")),
    )
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_consent_records_resident_id"), ["resident_id"], unique=False)

    op.create_table(
        "resident_merges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("survivor_id", sa.Integer(), nullable=False),
        sa.Column("merged_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=False),
        sa.Column(
            "moved", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["merged_id"], ["residents.id"], name=op.f("fk_resident_merges_merged_id_residents")),
        sa.ForeignKeyConstraint(
            ["survivor_id"], ["residents.id"], name=op.f("fk_resident_merges_survivor_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_resident_merges")),
    )
    with op.batch_alter_table("resident_merges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_resident_merges_survivor_id"), ["survivor_id"], unique=False)

    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.add_column(sa.Column("resident_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("channel_identity_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_access_tokens_resident_id"), ["resident_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_access_tokens_resident_id_residents"), "residents", ["resident_id"], ["id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_access_tokens_channel_identity_id_channel_identities"),
            "channel_identities",
            ["channel_identity_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:

    with op.batch_alter_table("access_tokens", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_access_tokens_channel_identity_id_channel_identities"), type_="foreignkey"
        )
        batch_op.drop_constraint(batch_op.f("fk_access_tokens_resident_id_residents"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_access_tokens_resident_id"))
        batch_op.drop_column("channel_identity_id")
        batch_op.drop_column("resident_id")

    with op.batch_alter_table("resident_merges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_resident_merges_survivor_id"))

    op.drop_table("resident_merges")
    with op.batch_alter_table("consent_records", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_consent_records_resident_id"))

    op.drop_table("consent_records")
    with op.batch_alter_table("channel_identities", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_channel_identities_resident_id"))
        batch_op.drop_index("ix_channel_identities_channel_unionid")

    op.drop_table("channel_identities")
    with op.batch_alter_table("residents", schema=None) as batch_op:
        batch_op.drop_index(
            "uq_residents_id_number_lookup",
            postgresql_where=sa.text("id_number_lookup IS NOT NULL"),
            sqlite_where=sa.text("id_number_lookup IS NOT NULL"),
        )
        batch_op.drop_index(batch_op.f("ix_residents_phone_lookup"))

    op.drop_table("residents")
