"""transaction() is a real boundary, and its lock locks on SQLite as on PostgreSQL."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import datetime
from datetime import timedelta
from datetime import timezone

import pytest
from sqlalchemy import Engine
from sqlalchemy import bindparam
from sqlalchemy import create_engine
from sqlalchemy import select
from sqlalchemy import text
from sqlalchemy.exc import DatabaseError
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker

from city_services.models import CatalogueRevision
from database import end_reads
from database import transaction
from database.engine import make_engine
from database.engine import make_session_factory
from database.transaction import TransactionMisuse
from database.transaction import one_statement
from database.types import UTCDateTime
from tests.concurrency import run_together


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """An engine on the parametrised database, holding one counter row."""
    made = make_engine(database_url)
    with make_session_factory(made)() as session, transaction(session):
        session.add(CatalogueRevision(id=1, revision=0))
    yield made
    made.dispose()


@pytest.fixture
def sessions(engine: Engine) -> sessionmaker[Session]:
    return make_session_factory(engine)


def count_once(sessions: sessionmaker[Session]) -> None:
    """Read the counter under the lock, dawdle, write it back plus one: loses updates unless the lock locks."""
    with sessions() as session:
        session.scalar(select(CatalogueRevision.revision))  # a read before the unit of work, as requests do
        with transaction(session):
            row = session.scalar(select(CatalogueRevision).with_for_update().execution_options(populate_existing=True))
            assert row is not None
            seen = row.revision
            time.sleep(0.002)
            row.revision = seen + 1


def test_concurrent_read_modify_writes_lose_no_update(sessions: sessionmaker[Session]) -> None:
    run_together(16, lambda _: count_once(sessions))
    with sessions() as session:
        assert session.scalar(select(CatalogueRevision.revision)) == 16


@pytest.mark.parametrize("how", ["select", "get"])
def test_a_row_read_under_its_lock_is_fresh_even_when_the_session_held_it(
    sessions: sessionmaker[Session], how: str
) -> None:
    with sessions() as session:
        kept = session.scalars(select(CatalogueRevision)).one()
        session.commit()
        with sessions() as other, transaction(other):
            other.scalars(select(CatalogueRevision)).one().revision = 41
        with transaction(session):
            if how == "select":
                locked = session.scalars(select(CatalogueRevision).with_for_update()).one()
            else:
                locked = session.get(CatalogueRevision, kept.id, with_for_update=True)
            assert locked is kept and locked.revision == 41


def test_transactions_do_not_nest(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(TransactionMisuse), transaction(session), transaction(session):
            pass  # pragma: no cover


def test_writes_made_before_the_boundary_are_refused_not_swallowed(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.add(CatalogueRevision(id=2, revision=7))
        with pytest.raises(TransactionMisuse), transaction(session):
            pass  # pragma: no cover
        session.rollback()
        session.add(CatalogueRevision(id=2, revision=7))
        session.flush()  # flushed but uncommitted is still a write outside the boundary
        with pytest.raises(TransactionMisuse), transaction(session):
            pass  # pragma: no cover
        session.rollback()
        with pytest.raises(TransactionMisuse):
            end_reads(session.add(CatalogueRevision(id=2, revision=7)) or session)
        session.rollback()
    with sessions() as session:
        assert session.get(CatalogueRevision, 2) is None


def test_a_refused_block_commits_nothing_and_the_session_stays_usable(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(ZeroDivisionError), transaction(session):
            session.add(CatalogueRevision(id=3, revision=1))
            session.flush()
            _ = 1 / 0
        with transaction(session):
            session.add(CatalogueRevision(id=4, revision=1))
    with sessions() as session:
        assert session.get(CatalogueRevision, 3) is None
        assert session.get(CatalogueRevision, 4) is not None


def test_end_reads_inside_a_transaction_is_refused(sessions: sessionmaker[Session]) -> None:
    with sessions() as session, pytest.raises(TransactionMisuse), transaction(session):
        end_reads(session)


def test_objects_read_before_the_boundary_stay_readable(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        row = session.get(CatalogueRevision, 1)
        assert row is not None
        with transaction(session):
            session.add(CatalogueRevision(id=5, revision=1))
        assert row.revision == 0


def bump(session: Session, by: int = 1) -> int:
    """One statement that adds to the counter and says what it became."""
    statement = text("UPDATE catalogue_revision SET revision = revision + :by WHERE id = :id RETURNING revision")
    return int(one_statement(session, statement, {"by": by, "id": 1}))


def test_one_statement_commits_on_its_own_and_leaves_the_session_free(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        session.scalar(select(CatalogueRevision.revision))  # reads before it are ended, as transaction() does
        assert bump(session) == 1
        assert not session.in_transaction()
        with sessions() as other:  # committed: another session sees it at once
            assert other.scalar(select(CatalogueRevision.revision)) == 1
        with transaction(session):
            session.add(CatalogueRevision(id=6, revision=1))
    with sessions() as session:
        assert session.get(CatalogueRevision, 6) is not None


def test_one_statement_locks_what_it_changes(sessions: sessionmaker[Session]) -> None:
    counted = run_together(16, lambda _: bump_alone(sessions))
    assert sorted(counted) == list(range(1, 17))


def bump_alone(sessions: sessionmaker[Session]) -> int:
    with sessions() as session:
        return bump(session)


def test_one_statement_is_refused_where_it_would_break_a_unit_of_work(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        with pytest.raises(TransactionMisuse), transaction(session):
            bump(session)
        session.add(CatalogueRevision(id=7, revision=7))
        with pytest.raises(TransactionMisuse):
            bump(session)
        session.rollback()
        with pytest.raises(DatabaseError):
            one_statement(session, text("SELECT revision FROM no_such_table"), {})
        with pytest.raises(NoResultFound):
            one_statement(session, text("SELECT revision FROM catalogue_revision WHERE id = 0"), {})
        with pytest.raises(NoResultFound):  # a statement that returns nothing at all
            one_statement(session, text("UPDATE catalogue_revision SET revision = 0 WHERE id = 0"), {})
        with pytest.raises(MultipleResultsFound):
            one_statement(session, text("SELECT 1 UNION ALL SELECT 2"), {})
        with pytest.raises(TypeError):
            one_statement(session, select(CatalogueRevision.revision), {})  # type: ignore[arg-type]
        assert bump(session) == 1  # the failed ones changed nothing and the session goes on
    with sessions() as session:
        assert session.get(CatalogueRevision, 7) is None


def test_one_statement_binds_its_values_by_type(sessions: sessionmaker[Session]) -> None:
    with sessions() as session:
        assert bump(session, by=5) == 5
        moment = datetime(2026, 11, 24, 9, 30, tzinfo=timezone(timedelta(hours=8)))
        stamped = text("SELECT :at").bindparams(bindparam("at", type_=UTCDateTime()))
        assert str(one_statement(session, stamped, {"at": moment})).startswith("2026-11-24 01:30:00")  # as UTC
        with pytest.raises(ValueError):
            one_statement(session, stamped, {"at": moment.replace(tzinfo=None)})  # the type's own check ran


def test_one_statement_hands_its_connection_back_as_it_found_it(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with sessions() as session:
        assert bump(session) == 1
        for failing in ("SELECT revision FROM no_such_table", "SELECT 1 UNION ALL SELECT 2"):
            with pytest.raises((DatabaseError, MultipleResultsFound)):
                one_statement(session, text(failing), {})
    pooled = [engine.raw_connection() for _ in range(engine.pool.checkedin())]  # every pooled one at once
    try:
        assert pooled
        for connection in pooled:
            # SQLite's stay in autocommit (we send BEGIN ourselves); PostgreSQL's are back in transactions.
            assert engine.dialect.detect_autocommit_setting(connection.dbapi_connection) is (
                engine.dialect.name == "sqlite"
            )
    finally:
        for connection in pooled:
            connection.close()
    with sessions() as session, transaction(session):  # and a unit of work on them still commits
        session.add(CatalogueRevision(id=8, revision=8))
    with sessions() as session:
        assert session.get(CatalogueRevision, 8) is not None


def test_an_autocommit_connection_on_sqlite_commits_what_it_runs(
    engine: Engine, sessions: sessionmaker[Session]
) -> None:
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text("UPDATE catalogue_revision SET revision = 41 WHERE id = 1"))
    with sessions() as session:
        assert session.scalar(select(CatalogueRevision.revision)) == 41


@pytest.mark.postgres
def test_a_lost_connection_fails_one_statement_and_is_replaced(empty_postgres_url: str) -> None:
    server = make_engine(empty_postgres_url, alive_without_ping=60)  # never pinged: the statement meets it
    sessions = make_session_factory(server)
    try:
        with sessions() as session:
            backend = one_statement(session, text("SELECT pg_backend_pid()"), {})
            terminate(empty_postgres_url, backend)
            # Just used, so handed out unpinged: the statement meets the closed connection.
            with pytest.raises(DBAPIError) as lost:
                one_statement(session, text("SELECT pg_backend_pid()"), {})
            assert lost.value.connection_invalidated
            assert one_statement(session, text("SELECT pg_backend_pid()"), {}) != backend  # a new one
    finally:
        server.dispose()


def terminate(url: str, backend: int) -> None:
    """Close one server connection from the server's side, as a restart or an idle timeout does."""
    admin = create_engine(url)
    with admin.connect() as connection:
        assert connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar_one()
    admin.dispose()
    time.sleep(0.1)  # the backend exits
