"""Write-ahead log checkpoints in the background, instead of inside a writer's commit."""

from __future__ import annotations

import sqlite3

from azure_dicom_emulator.storage.wal_checkpoints import WalCheckpointer

PAGE = 4096


def _writer(path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA wal_autocheckpoint=0")
    connection.execute("CREATE TABLE blob (value BLOB)")
    return connection


async def test_a_commit_starts_a_checkpoint_that_copies_the_log_into_the_database(tmp_path):
    path = tmp_path / "index.db"
    writer = _writer(path)
    writer.execute("INSERT INTO blob VALUES (zeroblob(2000000))")
    assert path.stat().st_size < 10 * PAGE  # committed, but only in the log

    checkpoints = WalCheckpointer(path)
    checkpoints.after_commit()
    await checkpoints.close()  # waits for the checkpoint

    assert path.stat().st_size > 2_000_000
    writer.close()
