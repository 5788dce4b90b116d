"""The background worker that runs long-running operations, started with the app (DESIGN §6).

Every worker process runs one. It claims an operation nobody owns (or whose owner's lease ran
out), runs it batch by batch, each batch checkpointed in the database, and otherwise waits: for
the next poll, or for a nudge from this process when it creates an operation.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

from sqlalchemy import Row

from ...runtime.background import wait
from ...storage import operations
from ..services import Services
from .records import LostOwnership

log = logging.getLogger(__name__)
BatchRunner = Callable[[Services, Row, str], Awaitable[bool]]
"""Runs the next batch of an operation for an owner; True when the operation is finished (or no longer ours)."""
_RUNNERS: dict[str, BatchRunner] = {}
MAX_BATCH_FAILURES = 3


@contextlib.asynccontextmanager
async def holding_lease(services: Services, operation_id: str, owner: str) -> AsyncIterator[None]:
    """Renews ``owner``'s lease on the operation every third of its length while the block runs.

    For a batch whose work before its checkpoint may outlast a lease: no other worker takes the
    operation over meanwhile. If the lease is lost anyway, the batch's checkpoint says so.
    """
    lease = services.settings.operation_lease_seconds

    async def renew() -> None:
        while True:
            await asyncio.sleep(lease / 3)
            async with services.db.write() as conn:
                if not await operations.renew_lease(conn, operation_id, owner, lease):
                    return

    task = asyncio.create_task(renew(), name=f"lease-{operation_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def register(operation_type: str, run_batch: BatchRunner) -> None:
    """Makes every runner run operations of ``operation_type`` with ``run_batch``."""
    _RUNNERS[operation_type] = run_batch


class OperationRunner:
    """Claims and runs operations until stopped."""

    def __init__(self, services: Services) -> None:
        self.services = services
        self.owner = uuid.uuid4().hex
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Starts the background loop."""
        self.task = asyncio.create_task(self._loop(), name="operation-runner")

    async def stop(self) -> None:
        """Stops the loop; an operation in progress is resumed later from its last checkpoint."""
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task

    async def _loop(self) -> None:
        wake = self.services.operations_wake
        while True:
            try:
                ran = await self.run_next()
            except Exception:
                log.exception("operation runner failed; retrying after the next poll")
                ran = False
            if not ran:
                await wait(wake, self.services.settings.operation_poll_seconds)

    async def run_next(self) -> bool:
        """Claims one operation and runs it to its end; False when there was none to claim."""
        db = self.services.db
        async with db.read() as conn:
            if not await operations.any_claimable(conn, list(_RUNNERS)):
                return False
        async with db.write() as conn:
            claimed = await operations.claim(
                conn, self.owner, self.services.settings.operation_lease_seconds, list(_RUNNERS)
            )
        if claimed is None:
            return False
        log.info("running %s operation %s", claimed.type, claimed.operation_id)
        run_batch = _RUNNERS[claimed.type]
        failures = 0
        while True:
            async with db.read() as conn:
                current = await operations.find(conn, claimed.operation_id)
            if current is None:  # removed by a reset of the data
                return True
            try:
                if await run_batch(self.services, current, self.owner):
                    return True
                failures = 0
            except LostOwnership:
                return True
            except Exception:
                failures += 1
                log.exception("%s operation %s failed a batch", claimed.type, claimed.operation_id)
                if failures >= MAX_BATCH_FAILURES:
                    await self._fail(current)
                    return True

    async def _fail(self, current: Row) -> None:
        """Ends an operation that keeps failing as ``failed``, keeping its last checkpoint."""
        lease = self.services.settings.operation_lease_seconds
        async with self.services.db.write() as conn:
            await operations.checkpoint(
                conn,
                current.operation_id,
                self.owner,
                json.loads(current.checkpoint),
                current.percent_complete,
                lease,
                operations.FAILED,
            )
