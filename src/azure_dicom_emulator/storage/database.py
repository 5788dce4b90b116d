"""The index database: one engine for SQLite and PostgreSQL, its pragmas, migrations and transactions."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Engine, create_engine, event, text
from sqlalchemy.engine import Connection, Result
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
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
            Path(url.split("///", 1)[1]).parent.mkdir(parents=True, exist_ok=True)
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
        else:
            self.engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
            self.read_engine = None

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection | InlineReads]:
        """A connection for reads, each statement seeing its own snapshot on SQLite."""
        if self.read_engine is not None:
            with self.read_engine.connect() as conn:
                yield InlineReads(conn)
            return
        async with self.engine.connect() as conn:
            yield conn

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A transaction that commits when the block ends without error and rolls back otherwise."""
        async with self.engine.connect() as conn:
            conn = await conn.execution_options(write=True)
            async with conn.begin():
                yield conn

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
        if self.read_engine is not None:
            self.read_engine.dispose()


class InlineReads:
    """A SQLite read connection with the ``execute`` of an AsyncConnection, run on the event loop's thread.

    A read in WAL mode never waits for a lock and an indexed lookup takes microseconds, far less than
    handing each statement to a driver thread and back (several thread switches per statement).
    Rows are fetched before ``execute`` returns, as the async engine does.
    """

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self.dialect = connection.dialect

    async def execute(self, statement, parameters=None) -> Result:  # noqa: ANN001
        """The statement's result, every row already fetched."""
        return self.connection.execute(statement, parameters).freeze()()


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
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn) -> None:  # noqa: ANN001
        # Reads run in autocommit: each SELECT is its own consistent snapshot, with no BEGIN to wait for.
        if conn.get_execution_options().get("write"):
            conn.exec_driver_sql("BEGIN IMMEDIATE")
