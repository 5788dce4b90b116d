"""Bringing an index's schema to the newest migration: built from the tables when new, by Alembic when older."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Column, MetaData, PrimaryKeyConstraint, String, Table, insert, inspect, text
from sqlalchemy.engine import Connection

from . import schema

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
# Alembic's record of the migration a schema is at, as Alembic itself creates it.
_ALEMBIC_VERSION = Table(
    "alembic_version",
    MetaData(),
    Column("version_num", String(32), nullable=False),
    PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
)


def newest_revision() -> str:
    """The revision of the newest migration (migrations are numbered in order: ``0007_emulator_tools.py``)."""
    return max(path.name.split("_", 1)[0] for path in (MIGRATIONS_DIR / "versions").glob("[0-9]*_*.py"))


def _schema_revision(connection: Connection) -> str | None:
    """The migration the schema is at; None for an empty database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(connection: Connection) -> None:
    """Applies the migrations the schema lacks. Alembic, and the modules it brings, load only for an index
    made at an older migration: a new index is built from the tables, one made before is left as it is."""
    revision = _schema_revision(connection)
    if revision == newest_revision():
        return
    if revision is None:
        _create_newest_schema(connection)
        return
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


def _create_newest_schema(connection: Connection) -> None:
    """Builds an empty database's schema from ``schema.metadata`` with the rows a new index holds, and records
    it at the newest migration (Alembic's way of creating a database from scratch, without running each one)."""
    schema.metadata.create_all(connection, checkfirst=False)  # empty: it has no alembic_version table
    connection.execute(insert(schema.counter), [{"name": name, "value": 0} for name in schema.COUNTERS])
    connection.execute(
        insert(schema.partition).values(
            partition_key=schema.DEFAULT_PARTITION_KEY,
            partition_name=schema.DEFAULT_PARTITION_NAME,
            created_date=datetime.now(UTC),
        )
    )
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT setval(pg_get_serial_sequence('partition', 'partition_key'), 1)"))
    _ALEMBIC_VERSION.create(connection)
    connection.execute(insert(_ALEMBIC_VERSION).values(version_num=newest_revision()))
