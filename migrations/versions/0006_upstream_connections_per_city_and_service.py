"""upstream connections per city × service, moved out of the per-channel offerings

Each city × service that has offerings gets one `upstream_connections` row with the adapter and
parameters its offerings carried. When the channels of one city × service disagree (an operator
changed one channel's upstream and not the other's), the offering changed last wins: the one with
the latest `updated_at`, and of those the one with the lowest id (the one seeded first). Each such
disagreement is logged with the city, service and the channel chosen. Parameters move as they are;
ones that do not fit their adapter's Params any more show as problems in the admin API and stop
production start-up until an operator fixes them.

Downgrade gives every offering its city × service's adapter and parameters back.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 09:05:00
"""

import logging
from datetime import UTC
from datetime import datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

log = logging.getLogger("alembic.runtime.migration")
JSON_DOCUMENT = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
# The tables as this revision sees them, independent of the models, which move on.
offerings = sa.table(
    "offerings",
    sa.column("id", sa.Integer()),
    sa.column("city_code", sa.String()),
    sa.column("service_code", sa.String()),
    sa.column("channel", sa.String()),
    sa.column("upstream", sa.String()),
    sa.column("upstream_params", JSON_DOCUMENT),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)
connections = sa.table(
    "upstream_connections",
    sa.column("city_code", sa.String()),
    sa.column("service_code", sa.String()),
    sa.column("adapter", sa.String()),
    sa.column("params", JSON_DOCUMENT),
    sa.column("updated_at", sa.DateTime(timezone=True)),
)


def upgrade() -> None:
    _refuse_cascading_rebuild()
    op.create_table(
        "upstream_connections",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("city_code", sa.String(length=6), nullable=False),
        sa.Column("service_code", sa.String(length=32), nullable=False),
        sa.Column("adapter", sa.String(length=64), nullable=False),
        sa.Column("params", JSON_DOCUMENT, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["city_code"], ["cities.code"], name=op.f("fk_upstream_connections_city_code_cities")),
        sa.ForeignKeyConstraint(
            ["service_code"], ["services.code"], name=op.f("fk_upstream_connections_service_code_services")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_upstream_connections")),
        sa.UniqueConstraint("city_code", "service_code", name=op.f("uq_upstream_connections_city_code_service_code")),
    )
    rows = op.get_bind().execute(
        sa.select(offerings).order_by(
            offerings.c.city_code, offerings.c.service_code, offerings.c.updated_at.desc(), offerings.c.id
        )
    )
    chosen: dict[tuple[str, str], dict[str, object]] = {}
    disagreeing: set[tuple[str, str]] = set()
    for row in rows.mappings():
        key = (row["city_code"], row["service_code"])
        if key not in chosen:
            chosen[key] = dict(row)
        elif (row["upstream"], row["upstream_params"]) != (chosen[key]["upstream"], chosen[key]["upstream_params"]):
            disagreeing.add(key)
    for city, service in sorted(disagreeing):
        log.warning(
            "%s/%s: channels had different upstreams; kept %s's, changed last",
            city,
            service,
            chosen[(city, service)]["channel"],
        )
    if chosen:
        op.bulk_insert(
            connections,
            [
                {
                    "city_code": row["city_code"],
                    "service_code": row["service_code"],
                    "adapter": row["upstream"],
                    "params": row["upstream_params"],
                    "updated_at": _aware(row["updated_at"]),
                }
                for row in chosen.values()
            ],
        )
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.drop_column("upstream_params")
        batch_op.drop_column("upstream")


def downgrade() -> None:
    _refuse_cascading_rebuild()
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.add_column(sa.Column("upstream", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("upstream_params", JSON_DOCUMENT, nullable=True))
    bind = op.get_bind()
    for row in bind.execute(sa.select(connections)).mappings():
        bind.execute(
            offerings.update()
            .where(offerings.c.city_code == row["city_code"], offerings.c.service_code == row["service_code"])
            .values(upstream=row["adapter"], upstream_params=row["params"])
        )
    # An offering added without a connection never had one to give back; the fake is what it meant.
    bind.execute(offerings.update().where(offerings.c.upstream.is_(None)).values(upstream="fake", upstream_params={}))
    with op.batch_alter_table("offerings", schema=None) as batch_op:
        batch_op.alter_column("upstream", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("upstream_params", existing_type=JSON_DOCUMENT, nullable=False)
    op.drop_table("upstream_connections")


def _refuse_cascading_rebuild() -> None:
    """SQLite rebuilds offerings to change its columns; with foreign keys enforced, dropping the old
    table would delete every maintenance window with it (ON DELETE CASCADE)."""
    bind = op.get_bind()
    if bind.dialect.name == "sqlite" and bind.exec_driver_sql("PRAGMA foreign_keys").scalar():
        raise RuntimeError("run this migration with SQLite foreign keys off (as `flask migrate` does)")


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive UTC times."""
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
