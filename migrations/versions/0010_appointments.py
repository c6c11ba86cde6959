"""appointments: residents' outpatient holds and bookings at the cities' hospital platforms

No patient data: whose appointment it is (resident id), which slot, its fee and the platform's hold.
The anti-scalping limits are checked under the resident's row lock, so no lock table is needed.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-23 12:29:50
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "appointments",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("resident_id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("hospital_id", sa.String(length=64), nullable=False),
        sa.Column("hospital_name", sa.String(length=128), nullable=False),
        sa.Column("department_id", sa.String(length=64), nullable=False),
        sa.Column("department_name", sa.String(length=128), nullable=False),
        sa.Column("slot_id", sa.String(length=64), nullable=False),
        sa.Column("doctor", sa.String(length=64), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("visit_date", sa.Date(), nullable=False),
        sa.Column("fee_fen", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("upstream_hold_id", sa.String(length=64), nullable=True),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "status IN ('holding', 'held', 'confirmed', 'cancelled', 'expired')",
            name=op.f("ck_appointments_status_known"),
        ),
        sa.CheckConstraint("fee_fen >= 0", name=op.f("ck_appointments_fee_not_negative")),
        sa.ForeignKeyConstraint(["resident_id"], ["residents.id"], name=op.f("fk_appointments_resident_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_appointments")),
        sa.UniqueConstraint("public_id", name=op.f("uq_appointments_public_id")),
    )
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_appointments_resident_id"), ["resident_id"], unique=False)
        batch_op.create_index("ix_appointments_resident_visit", ["resident_id", "visit_date"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("appointments", schema=None) as batch_op:
        batch_op.drop_index("ix_appointments_resident_visit")
        batch_op.drop_index(batch_op.f("ix_appointments_resident_id"))
    op.drop_table("appointments")
