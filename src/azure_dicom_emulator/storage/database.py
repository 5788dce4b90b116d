"""The index database: one engine for SQLite and PostgreSQL, its pragmas, migrations and transactions."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections import namedtuple
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Dialect, Engine, create_engine, event, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.pool import PoolProxiedConnection
from sqlalchemy.sql import Select

from .wal_checkpoints import WalCheckpointer

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
MAX_DRIVER_STATEMENTS = 2048
_MIGRATION_LOCK_ID = 0x44494356  # any constant shared by every worker


class Database:
    """The index database with separate read and write transactions.

    On SQLite a write transaction starts with ``BEGIN IMMEDIATE`` so that concurrent writers
    queue on the busy timeout instead of failing when they upgrade a read lock. SQLite reads run
    on the calling thread (see ``InlineReads``); PostgreSQL reads and every write go through the
    async engine.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        if self.is_sqlite:
            path = Path(url.split("///", 1)[1])
            path.parent.mkdir(parents=True, exist_ok=True)
            self._checkpoints: WalCheckpointer | None = WalCheckpointer(path)
            # Reads run without BEGIN and writes end in COMMIT or ROLLBACK: nothing to reset on check-in.
            self.engine: AsyncEngine = create_async_engine(url, pool_size=8, max_overflow=8, pool_reset_on_return=None)
            _configure_sqlite(self.engine.sync_engine)
            self.read_engine: Engine | None = create_engine(
                url.replace("+aiosqlite", "", 1),
                pool_size=8,
                max_overflow=32,
                pool_reset_on_return=None,
                connect_args={"check_same_thread": False},
            )
            _configure_sqlite(self.read_engine)
            self._driver_statements: dict[Select, DriverStatement] = {}
            self._driver_connections: dict[int, PoolProxiedConnection] = {}
            self._write_turn: asyncio.Lock | None = asyncio.Lock()
        else:
            self.engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.read_engine = None
            self._write_turn = None
            self._checkpoints = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection | InlineReads]:
        """A connection for reads, each statement seeing its own snapshot on SQLite."""
        if self.read_engine is not None:
            with self.read_engine.connect() as conn:
                yield InlineReads(conn, self._driver_statement)
            return
        async with self.engine.connect() as conn:
            yield conn

    async def first_row(self, statement: Select, parameters: dict[str, Any]) -> Any | None:
        """The first row of ``statement`` (attributes named as its columns), or None when it finds none.

        For hot lookups whose columns and parameters the driver takes and returns as they are (strings,
        numbers). On SQLite the statement, compiled once, runs on this thread's own driver connection:
        microseconds, where checking out a pooled connection and executing through it costs a hundred or so.
        """
        if self.read_engine is None:
            async with self.engine.connect() as conn:
                return (await conn.execute(statement, parameters)).first()
        compiled = self._driver_statement(statement)
        cursor = self._driver_connection().execute(compiled.sql, compiled.arguments(parameters))
        try:
            row = cursor.fetchone()
        finally:
            cursor.close()  # resets the statement, so that no read snapshot outlives the lookup
        return None if row is None else compiled.row_type._make(row)

    def _driver_statement(self, statement: Select) -> DriverStatement:
        """``statement`` compiled for the SQLite driver, once."""
        compiled = self._driver_statements.get(statement)
        if compiled is None:
            if len(self._driver_statements) >= MAX_DRIVER_STATEMENTS:
                self._driver_statements.clear()  # statements are built once per shape: this rarely happens
            compiled = DriverStatement.compile(statement, self.read_engine.dialect)
            self._driver_statements[statement] = compiled
        return compiled

    def _driver_connection(self) -> Any:
        """This thread's SQLite driver connection, checked out of the read pool once and kept."""
        connection = self._driver_connections.get(threading.get_ident())
        if connection is None:
            connection = self.read_engine.raw_connection()
            self._driver_connections[threading.get_ident()] = connection
        return connection.driver_connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without error and rolls back otherwise.

        On SQLite this process's writers take turns before they ask for the database's write lock: a
        writer that finds the lock taken sleeps in SQLite's busy handler for up to tens of milliseconds
        at a time, long after the other transaction ended. Other processes still meet at the lock.
        """
        async with self._write_turn or contextlib.nullcontext(), self.engine.connect() as conn:
            conn = await conn.execution_options(write=True)
            async with conn.begin():
                yield conn
        if self._checkpoints is not None:
            self._checkpoints.after_commit()

    async def migrate(self) -> None:
        """Brings the schema to the newest migration; safe when several workers start at once."""
        async with self.engine.connect() as conn:
            if self.is_sqlite:
                # BEGIN IMMEDIATE: a second worker waits for the first one's migration instead of racing it.
                conn = await conn.execution_options(write=True)
            else:
                await conn.execute(text("SELECT pg_advisory_lock(:id)"), {"id": _MIGRATION_LOCK_ID})
                await conn.commit()
            try:
                await conn.run_sync(_upgrade)
                await conn.commit()
            finally:
                if not self.is_sqlite:
                    await conn.execute(text("SELECT pg_advisory_unlock(:id)"), {"id": _MIGRATION_LOCK_ID})
                    await conn.commit()

    async def dispose(self) -> None:
        """Closes every pooled connection."""
        await self.engine.dispose()
        if self._checkpoints is not None:
            await self._checkpoints.close()
        if self.read_engine is not None:
            for connection in self._driver_connections.values():
                connection.close()
            self._driver_connections.clear()
            self.read_engine.dispose()


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


class InlineReads:
    """A SQLite read connection with the ``execute`` of an AsyncConnection, run on the event loop's thread.

    A read in WAL mode never waits for a lock and an indexed lookup takes microseconds, far less than
    handing each statement to a driver thread and back (several thread switches per statement).
    Rows are fetched before ``execute`` returns, as the async engine does.
    """

    def __init__(self, connection: Connection, driver_statement: Callable[[Select], DriverStatement]) -> None:
        self.connection = connection
        self.dialect = connection.dialect
        self._driver_statement = driver_statement

    async def execute(self, statement, parameters=None) -> Result:  # noqa: ANN001
        """The statement's result, every row already fetched."""
        return self.connection.execute(statement, parameters).freeze()()

    def fetch_all(self, statement: Select, parameters: dict[str, Any]) -> list:
        """Every row of ``statement``, run by the driver from SQL compiled once (see ``fetch_all``)."""
        compiled = self._driver_statement(statement)
        cursor = self.connection.connection.driver_connection.execute(compiled.sql, compiled.arguments(parameters))
        try:
            return [compiled.row_type._make(row) for row in cursor.fetchall()]
        finally:
            cursor.close()


async def fetch_all(conn: AsyncConnection | InlineReads, statement: Select, parameters: dict[str, Any]) -> list:
    """Every row of ``statement`` with ``parameters`` bound, attributes named as its columns.

    For statements built once and run often, whose columns and parameters the driver takes and
    returns as they are (strings, numbers): on SQLite they skip SQLAlchemy's per-execution work.
    """
    if isinstance(conn, InlineReads):
        return conn.fetch_all(statement, parameters)
    return list(await conn.execute(statement, parameters))


def _upgrade(connection: Connection) -> None:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _configure_sqlite(sync_engine: Engine) -> None:
    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection, _record) -> None:  # noqa: ANN001
        # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite's own handling is off).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=60000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA cache_size=-65536")
        cursor.execute("PRAGMA wal_autocheckpoint=0")  # see wal_checkpoints
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # Reads run in autocommit: each SELECT is its own consistent snapshot, with no BEGIN to wait for.
        if conn.get_execution_options().get("write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
