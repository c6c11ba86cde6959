"""A scratch PostgreSQL database for migration tests, one per pytest-xdist worker."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from sqlalchemy import create_engine
from sqlalchemy import text
from sqlalchemy.engine import make_url

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
