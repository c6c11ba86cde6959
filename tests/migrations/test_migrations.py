"""Migrations build the schema the models describe, on an empty PostgreSQL and on SQLite."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine
from sqlalchemy import inspect

from migrations import alembic_config
from migrations import upgrade_to_head
from migrations.metadata import target_metadata


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
