"""The index database's prebuilt-statement reads, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import asyncio
import sqlite3
from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from sqlalchemy import Double, Integer, bindparam, event, select
from sqlalchemy.pool import ConnectionPoolEntry

from azure_dicom_emulator.storage.database import Database, fetch_all
from azure_dicom_emulator.storage.migration import MIGRATIONS_DIR
from azure_dicom_emulator.storage.schema import partition

from ..support.postgres import create_postgres_database, drop_postgres_database

HEAD = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()

BY_NAME = select(partition.c.partition_key, partition.c.partition_name).where(
    partition.c.partition_name == bindparam("name")
)


async def test_first_row_names_its_columns_and_is_none_when_nothing_matches(client):
    db = client.app.state.services.db
    row = await db.first_row(BY_NAME, {"name": "Microsoft.Default"})
    assert (row.partition_key, row.partition_name) == (1, "Microsoft.Default")
    assert await db.first_row(BY_NAME, {"name": "no-such-partition"}) is None


PARTITIONS_FROM = (
    select(partition.c.partition_name, partition.c.partition_key)
    .where(partition.c.partition_key >= bindparam("first"))
    .order_by(partition.c.partition_key)
    .limit(bindparam("limit", type_=Integer))  # SQLite adds an OFFSET of its own
)


async def test_fetch_all_names_its_columns_and_binds_what_the_statement_adds_itself(client):
    db = client.app.state.services.db
    async with db.read() as conn:
        rows = await fetch_all(conn, PARTITIONS_FROM, {"first": 1, "limit": 5})
        assert [(row.partition_name, row.partition_key) for row in rows] == [("Microsoft.Default", 1)]
        assert await fetch_all(conn, PARTITIONS_FROM, {"first": 2, "limit": 5}) == []


async def test_statements_whose_values_need_conversion_run_through_sqlalchemy(client):
    """A date-time column, or a double parameter, is converted as SQLAlchemy converts it (not by the raw driver)."""
    db = client.app.state.services.db
    created = select(partition.c.created_date).where(partition.c.partition_name == bindparam("name"))
    row = await db.first_row(created, {"name": "Microsoft.Default"})
    assert isinstance(row.created_date, datetime)
    by_double = select(partition.c.partition_key).where(partition.c.partition_key == bindparam("key", type_=Double) * 1)
    async with db.read() as conn:
        rows = await fetch_all(conn, by_double, {"key": 1.0})
        assert [row.partition_key for row in rows] == [1]
        assert isinstance((await fetch_all(conn, created, {"name": "Microsoft.Default"}))[0].created_date, datetime)


async def test_a_write_waits_for_another_process_lock_without_holding_up_the_event_loop(tmp_path):
    db = Database(f"sqlite:///{tmp_path / 'index.db'}")
    try:
        await db.migrate()
        other = sqlite3.connect(tmp_path / "index.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")  # another process holds SQLite's write lock

        async def write() -> None:
            async with db.write() as conn:
                await conn.execute(partition.insert().values(partition_name="second", created_date=datetime.now(UTC)))

        writing = asyncio.ensure_future(write())
        ticks = 0
        for _ in range(20):
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done()
        assert ticks == 20  # the loop kept running while the write waited
        other.rollback()
        await asyncio.wait_for(writing, timeout=10)
        other.close()
        async with db.read() as conn:
            rows = await fetch_all(conn, PARTITIONS_FROM, {"first": 1, "limit": 5})
        assert [row.partition_name for row in rows] == ["Microsoft.Default", "second"]
    finally:
        await db.dispose()


async def test_another_process_sees_no_schema_or_the_whole_schema_while_migrations_run(tmp_path):
    path = tmp_path / "index.db"
    db = Database(f"sqlite:///{path}")
    seen: set[str | None] = set()

    def committed_version(_statement: str) -> None:
        """What a process starting now would find, looked at before each statement of the migration."""
        with sqlite3.connect(path) as other:
            try:
                seen.add(other.execute("SELECT version_num FROM alembic_version").fetchone()[0])
            except (sqlite3.OperationalError, TypeError):  # no table yet, or no row in it
                seen.add(None)

    @event.listens_for(db.sqlite_engine, "connect")
    def trace(dbapi_connection: sqlite3.Connection, _record: ConnectionPoolEntry) -> None:
        dbapi_connection.set_trace_callback(committed_version)

    try:
        await db.migrate()
        committed_version("")
    finally:
        await db.dispose()
    assert seen == {None, HEAD}


def test_the_newest_revision_is_alembics_head():
    from azure_dicom_emulator.storage.migration import newest_revision

    assert newest_revision() == HEAD


def test_a_new_index_and_one_at_the_newest_migration_open_without_loading_alembic(tmp_path):
    """Neither the first start of a server nor the next on the same data loads Alembic (12 MB, a fifth of a
    second); an index made at an older migration does (the test below)."""
    import subprocess
    import sys

    program = (
        "import asyncio, sys\n"
        "from azure_dicom_emulator.storage.database import Database\n"
        f"db = Database('sqlite:///{tmp_path / 'index.db'}')\n"
        "asyncio.run(db.migrate())\n"
        "print('alembic' in sys.modules)\n"
    )
    runs = [subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, check=True) for _ in "12"]
    assert [run.stdout.strip() for run in runs] == ["False", "False"]


async def _on_connection(database: Database, work):
    """``work(connection)`` on a synchronous connection to ``database``, in a transaction."""
    if database.sqlite_engine is not None:
        with database.sqlite_engine.begin() as connection:
            return work(connection)
    async with database.engine.begin() as connection:
        return await connection.run_sync(work)


def _upgrade_with_alembic_to(revision: str):
    def upgrade(connection) -> None:
        from alembic import command
        from alembic.config import Config

        config = Config()
        config.set_main_option("script_location", str(MIGRATIONS_DIR))
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return upgrade


def _schema_and_rows(connection) -> tuple[list, set, set, str]:
    """How the schema differs from the tables the code declares, and the rows a new index holds."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from sqlalchemy import text

    from azure_dicom_emulator.storage.schema import metadata

    differences = compare_metadata(MigrationContext.configure(connection), metadata)
    counters = set(connection.execute(text("SELECT name, value FROM counter")))
    partitions = {tuple(row) for row in connection.execute(text("SELECT partition_key, partition_name FROM partition"))}
    version = connection.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    return differences, counters, partitions, version


async def test_a_new_index_built_from_the_tables_matches_an_older_one_brought_up_by_every_migration(
    tmp_path, database_url
):
    """A new index skips the migrations; one made at 0001 runs them all. Both end with the same schema, the
    one ``schema.metadata`` declares, the same rows and the same revision."""
    older_url = create_postgres_database() if database_url else f"sqlite:///{tmp_path / 'older.db'}"
    new = Database(database_url or f"sqlite:///{tmp_path / 'new.db'}")
    older = Database(older_url)
    try:
        await _on_connection(older, _upgrade_with_alembic_to("0001"))
        await older.migrate()
        await new.migrate()
        built_new = await _on_connection(new, _schema_and_rows)
        migrated = await _on_connection(older, _schema_and_rows)
    finally:
        await new.dispose()
        await older.dispose()
        if database_url:
            drop_postgres_database(older_url)
    assert built_new == migrated
    differences, counters, partitions, version = built_new
    assert differences == []
    assert counters == {("version", 0), ("inspector_cleared", 0), ("data_resets", 0), ("version_before_reset", 0)}
    assert partitions == {(1, "Microsoft.Default")}
    assert version == HEAD
