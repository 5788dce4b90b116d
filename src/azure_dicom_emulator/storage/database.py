"""The index database: one engine for SQLite and PostgreSQL, its pragmas, migration and transactions."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
from collections import namedtuple
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.exc import DBAPIError
from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection
from sqlalchemy.sql import Executable, Select

from .migration import upgrade
from .wal_checkpoints import WalCheckpointer

if TYPE_CHECKING:  # the async engine, and the ORM it imports, load only for PostgreSQL
    from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

DEADLOCK_ATTEMPTS = 3
T = TypeVar("T")
log = logging.getLogger(__name__)
MAX_DRIVER_STATEMENTS = 2048
_MIGRATION_LOCK_ID = 0x44494356  # any constant shared by every worker
_BUSY_TIMEOUT_MS = 60000
_PING = text("SELECT 1")
_DEADLOCK_DETECTED = "40P01"


class Database:
    """The index database with separate read and write transactions.

    On SQLite every statement runs on the calling thread, through the driver (see ``InlineStatements``):
    handing each one to a driver thread and back costs several thread switches, and under load those
    waits, not the statements, made up most of a store's time holding the write lock. A write
    transaction starts with ``BEGIN IMMEDIATE``, so concurrent writers queue for the lock instead of
    failing when they upgrade a read lock. PostgreSQL goes through the async engine.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        if url.startswith("sqlite"):  # "sqlite:///path", or "sqlite+aiosqlite:///path" as well
            path = Path(url.split("///", 1)[1])
            path.parent.mkdir(parents=True, exist_ok=True)
            self._checkpoints: WalCheckpointer | None = WalCheckpointer(path)
            self.engine: AsyncEngine | None = None
            # Reads run without BEGIN and writes end in COMMIT or ROLLBACK: nothing to reset on check-in.
            self.sqlite_engine: Engine | None = create_engine(
                url.replace("+aiosqlite", "", 1),
                pool_size=8,
                max_overflow=32,
                pool_reset_on_return=None,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self.sqlite_engine)
            self._driver_statements: dict[Select, DriverStatement | None] = {}
            self._driver_connections: dict[int, PoolProxiedConnection] = {}
            self._write_turn: asyncio.Lock | None = asyncio.Lock()
        else:
            from sqlalchemy.ext.asyncio import create_async_engine

            self.engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.sqlite_engine = None
            self._write_turn = None
            self._checkpoints = None

    @property
    def is_sqlite(self) -> bool:
        """Whether the index is a SQLite file (else a PostgreSQL database)."""
        return self.sqlite_engine is not None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection | InlineStatements]:
        """A connection for reads, each statement seeing its own snapshot on SQLite."""
        if self.sqlite_engine is not None:
            with self.sqlite_engine.connect() as conn:
                yield InlineStatements(conn, self._driver_statement)
            return
        async with self.engine.connect() as conn:
            yield conn

    async def ping(self) -> None:
        """Runs a trivial query; raises when the database does not answer."""
        async with self.read() as conn:
            await conn.execute(_PING)

    async def first_row(self, statement: Select, parameters: dict[str, Any]) -> Any | None:
        """The first row of ``statement`` (attributes named as its columns), or None when it finds none.

        For hot lookups whose columns and parameters the driver takes and returns as they are (strings,
        numbers). On SQLite the statement, compiled once, runs on this thread's own driver connection:
        microseconds, where checking out a pooled connection and executing through it costs a hundred or so.
        """
        if self.sqlite_engine is None:
            async with self.engine.connect() as conn:
                return (await conn.execute(statement, parameters)).first()
        compiled = self._driver_statement(statement)
        if compiled is None:
            with self.sqlite_engine.connect() as conn:
                return conn.execute(statement, parameters).first()
        cursor = self._driver_connection().execute(compiled.sql, compiled.arguments(parameters))
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()  # resets the statement, so that no read snapshot outlives the lookup
        return None if row is None else compiled.row_type._make(row)

    def _driver_statement(self, statement: Select) -> DriverStatement | None:
        """``statement`` compiled for the SQLite driver, once; None when a value of it needs a conversion the
        driver does not make (a double, say), for SQLAlchemy to run it."""
        if statement in self._driver_statements:
            return self._driver_statements[statement]
        if len(self._driver_statements) >= MAX_DRIVER_STATEMENTS:
            self._driver_statements.clear()  # statements are built once per shape: this rarely happens
        try:
            compiled: DriverStatement | None = DriverStatement.compile(statement, self.sqlite_engine.dialect)
        except ValueError:
            compiled = None
        self._driver_statements[statement] = compiled
        return compiled

    def _driver_connection(self) -> Any:
        """This thread's SQLite driver connection, checked out of the pool once and kept."""
        connection = self._driver_connections.get(threading.get_ident())
        if connection is None:
            connection = self.sqlite_engine.raw_connection()
            self._driver_connections[threading.get_ident()] = connection
        return connection.driver_connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection | InlineStatements]:
        """A transaction that commits when the block ends without error and rolls back otherwise.

        On SQLite this process's writers take turns before they ask for the database's write lock: a
        writer that finds the lock taken sleeps in SQLite's busy handler for up to tens of milliseconds
        at a time, long after the other transaction ended. Other processes still meet at the lock.
        """
        if self.sqlite_engine is None:
            async with self.engine.connect() as conn, conn.begin():
                yield conn
            return
        async with self._write_turn:
            with self.sqlite_engine.connect() as conn:
                driver = conn.connection.driver_connection
                await _lock_for_writing(driver)
                with _ended(driver), conn.begin():  # commits through the driver, ending the transaction begun above
                    yield InlineStatements(conn, self._driver_statement)
        self._checkpoints.after_commit()
        # Statements run inline never suspend: a loop of transactions (a reindex, say) lets others run between them.
        await asyncio.sleep(0)

    @asynccontextmanager
    async def turn_of(self, lock_id: int) -> AsyncIterator[bool]:
        """Whether this process took the lock ``lock_id`` that every host shares, for the block: PostgreSQL's
        session advisory lock, tried without waiting (False: another process holds it). SQLite's index is one
        host's file, shared by no other host: always True."""
        if self.sqlite_engine is not None:
            yield True
            return
        async with self.engine.connect() as conn:
            taken = (await conn.execute(text("SELECT pg_try_advisory_lock(:id)"), {"id": lock_id})).scalar_one()
            await conn.commit()
            try:
                yield bool(taken)
            finally:
                if taken:
                    await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": lock_id})
                    await conn.commit()

    async def migrate(self) -> None:
        """Brings the schema to the newest migration; safe when several workers start at once."""
        if self.sqlite_engine is not None:
            # BEGIN IMMEDIATE: a second worker waits for the first one's migration instead of racing it.
            await asyncio.to_thread(self._migrate_sqlite)
            return
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
            await conn.commit()
            try:
                await conn.run_sync(upgrade)
                await conn.commit()
            finally:
                await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                await conn.commit()

    def _migrate_sqlite(self) -> None:
        with self.sqlite_engine.connect() as conn:
            driver = conn.connection.driver_connection
            driver.execute("BEGIN IMMEDIATE")
            with _ended(driver):
                upgrade(conn)
                conn.commit()

    async def dispose(self) -> None:
        """Closes every pooled connection."""
        if self.engine is not None:
            await self.engine.dispose()
        if self._checkpoints is not None:
            await self._checkpoints.close()
        if self.sqlite_engine is not None:
            for connection in self._driver_connections.values():
                connection.close()
            self._driver_connections.clear()
            self.sqlite_engine.dispose()


@dataclass(frozen=True)
class DriverStatement:
    """A statement compiled for the SQLite driver: its SQL, its parameters in order, the type of its rows."""

    sql: str
    names: tuple[str, ...]
    fixed: dict[str, Any]
    """Values the statement itself holds (a default OFFSET, say), by parameter name."""
    row_type: type

    @classmethod
    def compile(cls, statement: Select, dialect: Dialect) -> DriverStatement:
        """``statement`` for ``dialect``; ValueError when a value would need conversion the driver does not do."""
        sql = statement.compile(dialect=dialect)
        names = tuple(sql.positiontup or ())
        columns = statement.selected_columns
        if any(column.type.dialect_impl(dialect).result_processor(dialect, None) for column in columns) or any(
            sql.binds[name].type.dialect_impl(dialect).bind_processor(dialect) for name in names
        ):
            raise ValueError("The driver runs only statements whose values need no conversion.")
        fixed = {name: sql.binds[name].effective_value for name in names if not sql.binds[name].required}
        return cls(sql.string, names, fixed, namedtuple("Row", columns.keys()))

    def arguments(self, parameters: dict[str, Any]) -> list:
        """The driver's positional arguments for ``parameters`` (by name)."""
        if self.fixed:
            parameters = {**self.fixed, **parameters}
        return [parameters[name] for name in self.names]


class InlineStatements:
    """A SQLite connection with the ``execute`` of an AsyncConnection, run on the calling thread.

    A read in WAL mode never waits for a lock and an indexed lookup takes microseconds, far less than
    handing each statement to a driver thread and back (several thread switches per statement); a
    write transaction holds the lock already (``Database.write``). Rows are fetched before
    ``execute`` returns, as the async engine does.
    """

    def __init__(self, connection: Connection, driver_statement: Callable[[Select], DriverStatement | None]) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self._driver_statement = driver_statement

    async def execute(
        self, statement: Executable, parameters: dict[str, Any] | list[dict[str, Any]] | None = None
    ) -> Result:
        """The statement's result, every row already fetched."""
        result = self.connection.execute(statement, parameters)
        return result.freeze()() if result.returns_rows else result

    def fetch_all(self, statement: Select, parameters: dict[str, Any]) -> list:
        """Every row of ``statement``, run by the driver from SQL compiled once (see ``fetch_all``), or by SQLAlchemy
        when its values need conversions."""
        compiled = self._driver_statement(statement)
        if compiled is None:
            return list(self.connection.execute(statement, parameters))
        cursor = self.connection.connection.driver_connection.execute(compiled.sql, compiled.arguments(parameters))
        try:
            return [compiled.row_type._make(row) for row in cursor.fetchall()]
        finally:
            cursor.close()


def is_deadlock(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL breaking a deadlock by aborting this transaction (safe to try again)."""
    return isinstance(exc, DBAPIError) and getattr(exc.orig, "sqlstate", None) == _DEADLOCK_DETECTED


async def retrying_deadlocks(run: Callable[[], Awaitable[T]], attempts: int = DEADLOCK_ATTEMPTS) -> T:
    """``run()``'s result, running it again (up to ``attempts`` times in all) when PostgreSQL aborts its
    transaction to break a deadlock; ``run`` must do all its work in the transactions it opens."""
    for attempt in range(1, attempts + 1):
        try:
            return await run()
        except Exception as exc:
            if not is_deadlock(exc) or attempt == attempts:
                raise
            log.warning("a transaction met a deadlock and is tried again (attempt %d of %d)", attempt, attempts)
    raise AssertionError("unreachable")


async def fetch_all(conn: AsyncConnection | InlineStatements, statement: Select, parameters: dict[str, Any]) -> list:
    """Every row of ``statement`` with ``parameters`` bound, attributes named as its columns.

    For statements built once and run often, whose columns and parameters the driver takes and
    returns as they are (strings, numbers): on SQLite they skip SQLAlchemy's per-execution work.
    """
    if isinstance(conn, InlineStatements):
        return conn.fetch_all(statement, parameters)
    return list(await conn.execute(statement, parameters))


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        # No BEGIN from the driver: reads run in autocommit, writes begin themselves (``_lock_for_writing``).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # see wal_checkpoints
        cursor.close()


@contextlib.contextmanager
def _ended(driver: sqlite3.Connection) -> Iterator[None]:
    """Rolls back the transaction open on ``driver`` when the block leaves one open (it failed, or its COMMIT did)."""
    try:
        yield
    finally:
        if driver.in_transaction:
            driver.rollback()


async def _lock_for_writing(driver: sqlite3.Connection) -> None:
    """Begins a write transaction on ``driver`` (``BEGIN IMMEDIATE``), holding SQLite's write lock.

    Takes the lock at once when it is free; when another process holds it, waits for it on a thread,
    so the event loop never sleeps in SQLite's busy handler.
    """
    driver.execute("PRAGMA busy_timeout=0")
    try:
        driver.execute("BEGIN IMMEDIATE")
        return
    except sqlite3.OperationalError as exc:
        if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
            raise
    finally:
        driver.execute(f"PRAGMA busy_timeout={_BUSY_TIMEOUT_MS}")
    waiting = asyncio.get_running_loop().run_in_executor(None, driver.execute, "BEGIN IMMEDIATE")
    try:
        await asyncio.shield(waiting)
    except asyncio.CancelledError:
        # The thread may still take the lock: let it finish, then give the lock back.
        with contextlib.suppress(Exception):
            await waiting
        if driver.in_transaction:
            driver.rollback()
        raise
