"""Checkpoints of SQLite's write-ahead log, taken by a thread of their own rather than by a committing writer.

SQLite's automatic checkpoint runs inside the commit that crosses its threshold: that writer copies
the log into the database file and syncs it before its commit returns (about 0.1 s for 4 MB of log
here), and the request behind the commit waits. Here writers never checkpoint; after a commit, a
passive checkpoint starts in the background when none has for a while. Passive checkpoints never
wait for readers or writers, and SQLite keeps every committed page readable meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

log = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_SECONDS = 0.5
"""At most one checkpoint starts in this long; the log holds what was written in between."""


class WalCheckpointer:
    """Checkpoints the write-ahead log of the SQLite database at ``path`` in the background."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="wal-checkpoint")
        self._connection: sqlite3.Connection | None = None  # opened and used in the thread only
        self._running: asyncio.Future | None = None
        self._last_started = 0.0

    def after_commit(self) -> None:
        """Starts a checkpoint unless one is running or started less than CHECKPOINT_INTERVAL_SECONDS ago."""
        now = time.monotonic()
        if now - self._last_started < CHECKPOINT_INTERVAL_SECONDS or (
            self._running is not None and not self._running.done()
        ):
            return
        self._last_started = now
        self._running = asyncio.get_running_loop().run_in_executor(self._thread, self._checkpoint)

    def _checkpoint(self) -> None:
        try:
            if self._connection is None:
                self._connection = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            self._connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            log.warning("checkpoint of %s failed; the next commit tries again", self.path, exc_info=True)

    async def close(self) -> None:
        """Waits for a running checkpoint and closes the checkpoint connection."""
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close_connection)
        self._thread.shutdown()

    def _close_connection(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
