"""car move: requests with their timelines, registered vehicles, owners' answers, per-city rules, lock rows

Plates, locations and messages are vault ciphertexts; plates also have a keyed lookup hash.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 12:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    op.create_table(
        "car_move_locks",
        sa.Column("key", sa.String(length=80), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_car_move_locks")),
    )
    op.create_table(
        "car_move_requests",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("requester_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("request_no", sa.String(length=64), nullable=False),
        sa.Column("upstream_ticket", sa.String(length=80), nullable=True),
        sa.Column("plate_sealed", sa.Text(), nullable=True),
        sa.Column("plate_lookup", sa.String(length=64), nullable=True),
        sa.Column("location_sealed", sa.Text(), nullable=True),
        sa.Column("message_sealed", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("timeline", JSON_DOCUMENT, nullable=False),
        sa.Column("last_nudged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["residents.id"], name=op.f("fk_car_move_requests_owner_id_residents")),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["residents.id"], name=op.f("fk_car_move_requests_requester_id_residents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_car_move_requests")),
        sa.UniqueConstraint("public_id", name=op.f("uq_car_move_requests_public_id")),
        sa.UniqueConstraint("request_no", name=op.f("uq_car_move_requests_request_no")),
    )
    with op.batch_alter_table("car_move_requests", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_car_move_requests_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index("ix_car_move_requests_plate_created", ["plate_lookup", "created_at"], unique=False)
        batch_op.create_index("ix_car_move_requests_requester_created", ["requester_id", "created_at"], unique=False)

    op.create_table(
        "car_move_rules",
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("monthly_requests", sa.Integer(), nullable=False),
        sa.Column("plate_cooldown_minutes", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["city_code"], ["cities.code"], name=op.f("fk_car_move_rules_city_code_cities")),
        sa.PrimaryKeyConstraint("city_code", name=op.f("pk_car_move_rules")),
    )
    op.create_table(
        "car_move_vehicles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("plate_sealed", sa.Text(), nullable=False),
        sa.Column("plate_lookup", sa.String(length=64), nullable=False),
        sa.Column("checked_by", sa.String(length=64), nullable=False),
        sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["residents.id"], name=op.f("fk_car_move_vehicles_owner_id_residents")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_car_move_vehicles")),
        sa.UniqueConstraint("plate_lookup", name=op.f("uq_car_move_vehicles_plate_lookup")),
        sa.UniqueConstraint("public_id", name=op.f("uq_car_move_vehicles_public_id")),
    )
    with op.batch_alter_table("car_move_vehicles", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_car_move_vehicles_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "car_move_answers",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_id", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Integer(), nullable=True),
        sa.Column("answer", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["owner_id"], ["residents.id"], name=op.f("fk_car_move_answers_owner_id_residents")),
        sa.ForeignKeyConstraint(
            ["request_id"], ["car_move_requests.id"], name=op.f("fk_car_move_answers_request_id_car_move_requests")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_car_move_answers")),
        sa.UniqueConstraint("request_id", name=op.f("uq_car_move_answers_request_id")),
    )


def downgrade() -> None:
    op.drop_table("car_move_answers")
    with op.batch_alter_table("car_move_vehicles", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_car_move_vehicles_owner_id"))

    op.drop_table("car_move_vehicles")
    op.drop_table("car_move_rules")
    with op.batch_alter_table("car_move_requests", schema=None) as batch_op:
        batch_op.drop_index("ix_car_move_requests_requester_created")
        batch_op.drop_index("ix_car_move_requests_plate_created")
        batch_op.drop_index(batch_op.f("ix_car_move_requests_owner_id"))

    op.drop_table("car_move_requests")
    op.drop_table("car_move_locks")
