"""Migration 0005: the instance table gets the original-version columns, on SQLite and PostgreSQL."""

from __future__ import annotations

from alembic.script import ScriptDirectory
from sqlalchemy import select, text

from azure_dicom_emulator.storage.database import Database
from azure_dicom_emulator.storage.migration import MIGRATIONS_DIR
from azure_dicom_emulator.storage.schema import instance

ORIGINAL_COLUMNS = [column for column in instance.c if column.name.startswith("original_")]


def test_the_migrations_form_one_chain_with_0005_after_0004():
    script = ScriptDirectory(str(MIGRATIONS_DIR))
    assert len(script.get_heads()) == 1
    assert script.get_revision("0005").down_revision == "0004"
    assert [revision.revision for revision in script.walk_revisions()][-5:] == ["0005", "0004", "0003", "0002", "0001"]


async def test_migrating_an_empty_database_adds_the_original_version_columns(tmp_path, database_url):
    database = Database(database_url or f"sqlite:///{tmp_path / 'index.db'}")
    try:
        await database.migrate()
        await database.migrate()  # a second start finds nothing to do
        assert [column.name for column in ORIGINAL_COLUMNS] == [
            "original_version",
            "original_blob_key",
            "original_size",
            "original_transfer_syntax_uid",
            "original_metadata",
        ]
        async with database.read() as conn:
            assert list(await conn.execute(select(*ORIGINAL_COLUMNS))) == []
            version = (await conn.execute(text("SELECT version_num FROM alembic_version"))).scalar_one()
        assert version == ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    finally:
        await database.dispose()
