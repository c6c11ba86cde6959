"""The only place a unit of work is committed."""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from typing import TypeVar

from sqlalchemy import Engine
from sqlalchemy import TextClause
from sqlalchemy import event
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects import sqlite
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import MultipleResultsFound
from sqlalchemy.exc import NoResultFound
from sqlalchemy.orm import ORMExecuteState
from sqlalchemy.orm import Session
from sqlalchemy.orm import sessionmaker
from sqlalchemy.pool import PoolProxiedConnection

# The execution option transaction() sets: this transaction will write, so take the write lock now.
WRITING = "citytiles_writing"
_OPEN = "citytiles_transaction_open"
_FLUSHED = "citytiles_flushed"
Statement = TypeVar("Statement")


class TransactionMisuse(RuntimeError):
    """transaction() was used where it cannot be a boundary: nested, or after writes it would swallow."""


def end_reads(session: Session) -> None:
    """End the transaction earlier lookups began, so none stays open across a network call."""
    if session.info.get(_OPEN):
        raise TransactionMisuse("end_reads() inside transaction() would commit half of a unit of work")
    _refuse_pending_writes(session)
    session.commit()


@contextmanager
def transaction(session: Session) -> Iterator[Session]:
    """Begin a writing transaction that holds the write lock; commit the block, or roll all of it back."""
    # A boundary: everything the block writes commits together, nothing from before rides along,
    # and the lock (FOR UPDATE on PostgreSQL, the write lock on SQLite) is held from the start.
    if session.info.get(_OPEN):
        raise TransactionMisuse("transaction() does not nest; one use-case, one transaction")
    _refuse_pending_writes(session)
    if session.in_transaction():
        session.commit()  # only reads were made: end them, so what follows reads under the lock
    session.info[_OPEN] = True
    try:
        session.connection(execution_options={WRITING: True})
        yield session
    except BaseException:
        session.rollback()
        raise
    else:
        session.commit()
    finally:
        session.info.pop(_OPEN, None)
        session.info.pop(_FLUSHED, None)


def one_statement(session: Session, statement: TextClause, parameters: dict[str, Any]) -> Any:
    """Run one statement as a transaction of its own and give its one value; atomic by itself.

    For the hottest write (a payment notification): PostgreSQL commits a single statement, every
    part of its data-modifying WITH included, all or nothing, and its UPDATE locks the rows it
    changes, so BEGIN and COMMIT would only add two round trips.
    """
    if session.info.get(_OPEN):
        raise TransactionMisuse("one_statement() inside transaction() would commit half of a unit of work")
    _refuse_pending_writes(session)
    if session.in_transaction():
        session.commit()  # only reads were made: end them
    engine = session.get_bind().engine
    # A pooled connection of the session's engine, driven directly: for one statement of fixed text,
    # a Connection, its execution context and result only added per-call work (half of the call's CPU).
    pooled = engine.raw_connection()
    try:
        row = _run_alone(engine, pooled, _driver_form(statement, engine.dialect), parameters)
    finally:
        pooled.close()
    return row[0]


@dataclass(frozen=True)
class _DriverForm:
    """A text statement compiled once for a dialect: its text in the driver's placeholders, and how values bind."""

    compiled: Any
    processors: dict[str, Callable[[Any], Any]]

    def values(self, parameters: dict[str, Any]) -> Any:
        """The parameters as the driver takes them (by name, or in order), each through its type's bind processing."""
        values: dict[str, Any] = self.compiled.construct_params(parameters)
        for name, process in self.processors.items():
            values[name] = process(values[name])
        if self.compiled.positional:  # SQLite's ? placeholders
            return [values[name] for name in self.compiled.positiontup]
        return values


@lru_cache(maxsize=64)
def _driver_form(statement: TextClause, dialect: Dialect) -> _DriverForm:
    if not isinstance(statement, TextClause):
        # A text() statement's bind names are its own; Core statements add anonymous and escaped ones.
        raise TypeError("one_statement() takes a text() statement")
    compiled = statement.compile(dialect=dialect)
    processors: dict[str, Callable[[Any], Any]] = {}
    for name, bind in compiled.binds.items():
        process = bind.type.dialect_impl(dialect).bind_processor(dialect)
        if process is not None:
            processors[name] = process
    return _DriverForm(compiled, processors)


def _run_alone(engine: Engine, pooled: PoolProxiedConnection, form: _DriverForm, parameters: dict[str, Any]) -> Any:
    """Execute in autocommit and give the one row; the connection goes back as it was found, or not at all."""
    dialect = engine.dialect
    driver = pooled.dbapi_connection
    assert driver is not None, "a connection just checked out of the pool"
    # SQLite's connections run in autocommit already (we send BEGIN ourselves); PostgreSQL's are switched
    # for this statement and back (the driver's autocommit alone: their isolation level stays as set).
    switched = not dialect.detect_autocommit_setting(driver)
    cursor = None
    try:
        if switched:
            driver.autocommit = True
        cursor = driver.cursor()
        cursor.execute(form.compiled.string, form.values(parameters))
        rows = cursor.fetchmany(2) if cursor.description is not None else []
        cursor.close()
        if switched:
            driver.autocommit = False
    except dialect.loaded_dbapi.Error as error:
        # Whatever state it was left in, this connection never serves again; a lost one means the
        # server went away, so every pooled connection is replaced, as a Connection would have them.
        gone = dialect.is_disconnect(error, driver, cursor)
        pooled.invalidate(error)
        if gone:
            engine.dispose(close=False)
        raise DBAPIError.instance(
            form.compiled.string,
            None,
            error,
            dialect.loaded_dbapi.Error,
            hide_parameters=True,
            connection_invalidated=gone,
            dialect=dialect,
        ) from error
    except BaseException:
        pooled.invalidate()  # interrupted mid-statement: its state is unknown
        raise
    if len(rows) != 1:
        raise NoResultFound("no row from one_statement()") if not rows else MultipleResultsFound("rows, not one")
    return rows[0]


def _refuse_pending_writes(session: Session) -> None:
    """Writes made outside transaction() would be committed by accident: a bug, never silently accepted."""
    if session.new or session.dirty or session.deleted or session.info.get(_FLUSHED):
        raise TransactionMisuse("writes are pending outside transaction(); make them inside it")


def track_flushes(sessions: sessionmaker[Session]) -> None:
    """Remember flushes made outside transaction() until the session's transaction ends; read locked rows afresh."""
    event.listen(sessions, "do_orm_execute", _read_locked_rows_afresh)
    event.listen(sessions, "after_flush", _note_flush)
    event.listen(sessions, "after_soft_rollback", _forget_flush)
    event.listen(sessions, "after_commit", _forget_flush)


def _read_locked_rows_afresh(state: ORMExecuteState) -> None:
    """A row read under its lock is what the database holds now, never what the session kept from before.

    Sessions keep their objects across commits (expire_on_commit is off), and SQLAlchemy does not
    overwrite an object it already holds with a newer row unless told to: a check made "under the
    lock" would read the stale copy and the lock would protect nothing.
    """
    if state.is_select and state.statement._for_update_arg is not None:  # type: ignore[attr-defined]
        state.update_execution_options(populate_existing=True)


def _note_flush(session: Session, flush_context: object) -> None:
    if not session.info.get(_OPEN):
        session.info[_FLUSHED] = True


def _forget_flush(session: Session, *args: object) -> None:
    session.info.pop(_FLUSHED, None)


def rows_changed(result: Any) -> int:
    """How many rows an UPDATE or DELETE touched (every DML result has a rowcount)."""
    return int(result.rowcount)


def insert_or_skip(session: Session) -> Any:
    """INSERT with ON CONFLICT in the session's database's dialect: races lose to unique keys."""
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def built_once(build: Callable[[Any], Statement]) -> Callable[[Session], Statement]:
    """A statement built once per database dialect from its INSERT-with-ON-CONFLICT, then run with parameters.

    For paths hit on every request (a payment notification): building a statement from literal
    values costs more than running it, and one built with bound parameters is compiled only once.
    """
    built: dict[str, Statement] = {}

    def statement(session: Session) -> Statement:
        dialect = session.get_bind().dialect.name
        if dialect not in built:
            built[dialect] = build(postgresql.insert if dialect == "postgresql" else sqlite.insert)
        return built[dialect]

    return statement
