"""The index database's single-row lookups, on SQLite and (when reachable) PostgreSQL."""

from __future__ import annotations

import pytest
from sqlalchemy import bindparam, select

from azure_dicom_emulator.storage.database import Database
from azure_dicom_emulator.storage.schema import change_feed, partition

BY_NAME = select(partition.c.partition_key, partition.c.partition_name).where(
    partition.c.partition_name == bindparam("name")
)


async def test_first_row_names_its_columns_and_is_none_when_nothing_matches(client):
    db = client.app.state.services.db
    row = await db.first_row(BY_NAME, {"name": "Microsoft.Default"})
    assert (row.partition_key, row.partition_name) == (1, "Microsoft.Default")
    assert await db.first_row(BY_NAME, {"name": "no-such-partition"}) is None


async def test_first_row_refuses_columns_the_driver_would_not_convert(tmp_path):
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    try:
        with pytest.raises(ValueError):
            await db.first_row(select(change_feed.c.timestamp), {})
    finally:
        await db.dispose()
