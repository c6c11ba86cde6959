"""service_figures_hourly, and the channel a car-move request came through: figures per city × service × channel

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-25 09:40:12
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

COUNTERS = (
    "tile_visits",
    "requests",
    "succeeded",
    "latency_le_50",
    "latency_le_100",
    "latency_le_200",
    "latency_le_500",
    "latency_le_1000",
    "latency_le_2000",
    "latency_le_5000",
    "latency_over_5000",
)


def upgrade() -> None:
    op.create_table(
        "service_figures_hourly",
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        *(sa.Column(name, sa.Integer(), nullable=False) for name in COUNTERS),
        sa.PrimaryKeyConstraint("hour", "city_code", "service_code", "channel", name=op.f("pk_service_figures_hourly")),
    )
    with op.batch_alter_table("car_move_requests", schema=None) as batch_op:
        batch_op.add_column(sa.Column("channel", sa.String(length=16), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("car_move_requests", schema=None) as batch_op:
        batch_op.drop_column("channel")

    op.drop_table("service_figures_hourly")
