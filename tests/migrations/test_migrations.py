"""Migrations build the schema the models describe, on an empty PostgreSQL and on SQLite."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy import inspect
from sqlalchemy import text
from sqlalchemy.engine import make_url

from migrations import alembic_config
from migrations import upgrade_to_head
from migrations.metadata import target_metadata
from tests.conftest import require_service

# One per pytest-xdist worker, so parallel runs never drop each other's database.
SCRATCH_DATABASE = "citytiles_migration_check" + os.environ.get("PYTEST_XDIST_WORKER", "")


@pytest.fixture
def empty_postgres() -> Iterator[str]:
    """A brand-new, empty PostgreSQL database on the test server."""
    server = make_url(require_service("TEST_DATABASE_URL"))
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE}"))
        connection.execute(text(f"CREATE DATABASE {SCRATCH_DATABASE}"))
    yield server.set(database=SCRATCH_DATABASE).render_as_string(hide_password=False)
    with admin.connect() as connection:
        connection.execute(text(f"DROP DATABASE IF EXISTS {SCRATCH_DATABASE} WITH (FORCE)"))
    admin.dispose()


def differences(url: str) -> list[object]:
    engine = create_engine(url)
    with engine.connect() as connection:
        found = compare_metadata(MigrationContext.configure(connection, opts={"compare_type": True}), target_metadata)
    engine.dispose()
    return found


@pytest.mark.postgres
def test_postgres_upgrades_from_empty_to_head_and_matches_the_models(empty_postgres: str) -> None:
    upgrade_to_head(empty_postgres)
    engine = create_engine(empty_postgres)
    assert set(inspect(engine).get_table_names()) == set(target_metadata.tables) | {"alembic_version"}
    engine.dispose()
    assert differences(empty_postgres) == []


@pytest.mark.postgres
def test_postgres_downgrades_to_nothing_and_back(empty_postgres: str) -> None:
    upgrade_to_head(empty_postgres)
    command.downgrade(alembic_config(empty_postgres), "base")
    engine = create_engine(empty_postgres)
    assert inspect(engine).get_table_names() == ["alembic_version"]
    engine.dispose()
    upgrade_to_head(empty_postgres)
    assert differences(empty_postgres) == []


def test_sqlite_upgrades_to_head_and_matches_the_models(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'migrated.db'}"
    upgrade_to_head(url)
    assert differences(url) == []
