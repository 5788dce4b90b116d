"""Any table's newest rows, as the inspector shows tables it has no page of its own for."""

from __future__ import annotations

from azure_dicom_emulator.storage import table_rows
from azure_dicom_emulator.storage.database import Database


async def test_the_newest_rows_of_a_table_come_with_its_column_names(tmp_path, database_url):
    db = Database(database_url or f"sqlite:///{tmp_path / 'index.db'}")
    await db.migrate()
    try:
        async with db.read() as conn:
            columns, rows = await table_rows.newest_rows(conn, "partition", 10)
    finally:
        await db.dispose()

    assert columns == ["partition_key", "partition_name", "created_date"]
    assert [(row.partition_key, row.partition_name) for row in rows] == [(1, "Microsoft.Default")]
    assert table_rows.has_table("partition")
    assert not table_rows.has_table("no_such_table")
