"""Delivery to sinks: at least once, in sequence order, retried, dead-lettered, never lost.

Each sink has a cursor row (the last sequence it took) and a lease. A runner per sink renews
or waits for the lease; only the holder delivers, so several processes do not deliver an event
twice in normal running, and when the holder dies another takes over within a lease. The
holder reads events after its cursor, delivers them in groups and moves the cursor after they
were taken (a crash in between delivers them again: at least once). A failed group is retried,
from the first of its events the sink did not take, with exponential backoff, its attempts kept
in the cursor row so a restart keeps counting, and after the sink's ``max_attempts`` (or at once
for a refusal that Event Grid does not retry) it is parked in the dead letters and the cursor
moves past it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

from sqlalchemy import Row

from ...runtime.background import forever, wait
from ...settings import Settings
from ...settings.event_sinks import FileSink, SinkConfig, StorageQueueSink
from ...storage import outbox
from ...storage.database import Database
from ...storage.index import as_utc
from .file_target import FileTarget
from .target import DeliveryFailed, Target

log = logging.getLogger(__name__)

LEASE_SECONDS = 10.0
RENEW_SECONDS = LEASE_SECONDS / 3
POLL_SECONDS = 0.1  # how often to look for events committed by other processes
CHECKPOINT_SECONDS = 0.25  # while delivering, the cursor moves at least this often ...
CHECKPOINT_EVENTS = 200  # ... and after at most this many events
READ_LIMIT = 500
PENDING_VALIDATION_SECONDS = 5.0
PRUNE_SECONDS = 60.0
OUTBOX_RETENTION = timedelta(hours=1)
VALIDATION_PATH = "/emulator/events/validate"


class LeaseLost(Exception):
    """Another delivery process took the sink over."""


def _now() -> datetime:
    return datetime.now(UTC)


def open_target(config: SinkConfig, topic: str) -> Target:
    """The destination a sink's configuration describes.

    The HTTP and Azure clients are imported here, in the delivery process, so that server processes
    (which only read the outbox) do not carry them.
    """
    if isinstance(config, FileSink):
        return FileTarget(config)
    if isinstance(config, StorageQueueSink):
        from .storage_queue_target import StorageQueueTarget

        return StorageQueueTarget(config)
    from .webhook_target import WebhookTarget

    return WebhookTarget(config, topic)


class Sinks:
    """Delivery to every configured sink, with pruning of the outbox: what the delivery process runs."""

    def __init__(self, settings: Settings, db: Database) -> None:
        self.settings = settings
        self.db = db
        owner = f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        validation_url = _validation_url(settings)
        self.runners = [
            SinkRunner(db, config, open_target(config, settings.events_topic), owner, validation_url)
            for config in settings.events
        ]
        self.tasks: list[asyncio.Task] = []

    def start(self) -> None:
        """Starts every sink's lease keeper and delivery loop, and the pruning."""
        for runner in self.runners:
            self.tasks += [
                forever(runner.keep_lease, f"events: {runner.name}"),
                forever(runner.deliver, f"events: {runner.name}"),
            ]
        self.tasks += [forever(self._watch, "events: outbox watch"), forever(self._prune, "events: outbox pruning")]

    async def stop(self) -> None:
        """Stops delivering and gives up the leases, so a successor starts at once."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        for runner in self.runners:
            await runner.close()

    async def _watch(self) -> None:
        """Every POLL_SECONDS, wakes the sinks that have events to deliver: one query however many sinks."""
        while True:
            async with self.db.read() as conn:
                newest = await outbox.newest_event(conn)
            for runner in self.runners:
                if runner.owned and runner.loaded and runner.position < newest:
                    runner.wake_event.set()
            await asyncio.sleep(POLL_SECONDS)

    async def _prune(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_SECONDS)
            async with self.db.write() as conn:
                names = [config.sink_name for config in self.settings.events]
                positions = [row.position for row in await outbox.sinks(conn, names)]
                through = min(positions) if positions else await outbox.newest_sequence(conn)
                removed = await outbox.prune(conn, through, _now() - OUTBOX_RETENTION)
            if removed:
                log.info("pruned %d delivered event(s) from the outbox", removed)


def _validation_url(settings: Settings) -> str:
    host = settings.host if settings.host not in ("0.0.0.0", "::", "") else "127.0.0.1"
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}{VALIDATION_PATH}"


def _is_dead_local_owner(owner: str) -> bool:
    """Whether ``owner`` names a process of this host that no longer runs."""
    host, _, rest = owner.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname()[:30] or not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class SinkRunner:
    """Delivery to one sink from this process, while it holds the sink's lease."""

    def __init__(self, db: Database, config: SinkConfig, target: Target, owner: str, validation_url: str) -> None:
        self.db = db
        self.config = config
        self.name = config.sink_name
        self.target = target
        self.owner = owner
        self.validation_url = validation_url
        self.wake_event = asyncio.Event()
        self.owned = False
        self.loaded = False  # whether the cursor below was read since the lease was taken
        self.position = 0
        self.attempts = 0
        self.next_attempt_at: datetime | None = None
        self.handshake_failures = 0

    async def keep_lease(self) -> None:
        """Takes the lease when it is free and renews it while held.

        A holder on this host whose process is gone (a server killed and started again) is
        replaced at once rather than after its lease runs out.
        """
        dead_owner: str | None = None
        while True:
            now = _now()
            try:
                async with self.db.write() as conn:
                    lease_until = now + timedelta(seconds=LEASE_SECONDS)
                    owned = await outbox.claim(conn, self.name, self.owner, now, lease_until, dead_owner)
                    state = await outbox.sink(conn, self.name)
                    holder = None if owned else state.owner
                if owned and self.loaded and state.position < self.position:
                    self.loaded = False  # the data was reset: the cursor went back to the start
                    self.wake_event.set()
                dead_owner = holder if holder and _is_dead_local_owner(holder) else None
                if dead_owner is not None:
                    continue
            except Exception:
                log.exception("sink '%s': cannot renew the lease", self.name)
                owned = False
            if owned and not self.owned:
                self.loaded = False
                self.wake_event.set()
            self.owned = owned
            await asyncio.sleep(RENEW_SECONDS)

    async def deliver(self) -> None:
        """Delivers events for as long as this process holds the lease."""
        while True:
            if not self.owned:
                await wait(self.wake_event, RENEW_SECONDS)
                continue
            try:
                if not self.loaded:
                    await self._load()
                await self._step()
            except LeaseLost:
                log.info("sink '%s': another delivery process took over", self.name)
                self.owned = False
                self.loaded = False

    async def _load(self) -> None:
        async with self.db.read() as conn:
            state = await outbox.sink(conn, self.name)
        self.position = state.position
        self.attempts = state.attempts
        self.next_attempt_at = as_utc(state.next_attempt_at) if state.next_attempt_at else None
        self.loaded = True

    async def _step(self) -> None:
        if self.next_attempt_at is not None:
            delay = (self.next_attempt_at - _now()).total_seconds()
            if delay > 0:
                await asyncio.sleep(min(delay, RENEW_SECONDS))
                return
        async with self.db.read() as conn:
            rows = await outbox.events_after(conn, self.position, max(READ_LIMIT, self.target.batch_size))
        if not rows:
            await wait(self.wake_event, RENEW_SECONDS)  # Sinks._watch wakes us when events come
            return
        if self.target.endpoint is not None and not await self._validated():
            return
        await self._deliver(rows)

    async def _validated(self) -> bool:
        """Whether the endpoint passed its handshake; runs the handshake when it has not."""
        async with self.db.read() as conn:
            state = await outbox.sink(conn, self.name)
        if state.validated_endpoint == self.target.endpoint:
            return True
        code = state.validation_code or uuid.uuid4().hex
        url = f"{self.validation_url}?{urlencode({'sink': self.name, 'code': code})}"
        try:
            validated = await self.target.handshake(code, url)
        except DeliveryFailed as exc:
            self.handshake_failures += 1
            log.warning("sink '%s': validation handshake failed: %s", self.name, exc.message)
            self.next_attempt_at = _now() + timedelta(seconds=self._backoff(self.handshake_failures))
            return False
        self.handshake_failures = 0
        async with self.db.write() as conn:
            if validated:
                await outbox.set_validation(conn, self.name, self.target.endpoint, None)
            else:
                await outbox.set_validation(conn, self.name, None, code)
        if not validated:
            log.warning("sink '%s': awaiting manual validation through %s", self.name, url)
            self.next_attempt_at = _now() + timedelta(seconds=PENDING_VALIDATION_SECONDS)
        return validated

    async def _deliver(self, rows: list[Row]) -> None:
        delivered_through: int | None = None
        pending = 0
        since = time.monotonic()
        size = self.target.batch_size
        for start in range(0, len(rows), size):
            group = rows[start : start + size]
            try:
                await self.target.deliver([json.loads(row.body) for row in group], self.attempts)
            except DeliveryFailed as exc:
                if exc.delivered:  # the sink took the first events of the group: only the rest are tried again
                    delivered_through, pending = group[exc.delivered - 1].sequence, pending + exc.delivered
                    group = group[exc.delivered :]
                if pending:
                    await self._advance(delivered_through)
                await self._failed(group, exc)
                return
            delivered_through = group[-1].sequence
            pending += len(group)
            if pending >= CHECKPOINT_EVENTS or time.monotonic() - since >= CHECKPOINT_SECONDS:
                await self._advance(delivered_through)
                pending, since = 0, time.monotonic()
        if pending:
            await self._advance(delivered_through)

    async def _advance(self, position: int) -> None:
        async with self.db.write() as conn:
            moved = await outbox.advance(
                conn, self.name, self.owner, position, _now() + timedelta(seconds=LEASE_SECONDS)
            )
        if not moved:
            raise LeaseLost()
        self.position, self.attempts, self.next_attempt_at = position, 0, None

    async def _failed(self, group: list[Row], exc: DeliveryFailed) -> None:
        attempts = self.attempts + 1
        if exc.retryable and attempts < self.config.max_attempts:
            delay = self._backoff(attempts)
            log.warning(
                "sink '%s': delivery of event %d failed (attempt %d of %d, next in %.1f s): %s",
                self.name, group[0].sequence, attempts, self.config.max_attempts, delay, exc.message,
            )  # fmt: skip
            next_attempt_at = _now() + timedelta(seconds=delay)
            async with self.db.write() as conn:
                if not await outbox.record_failure(conn, self.name, self.owner, attempts, next_attempt_at, exc.message):
                    raise LeaseLost()
            self.attempts, self.next_attempt_at = attempts, next_attempt_at
            return
        reason = "MaxDeliveryAttemptsExceeded" if exc.retryable else "NonRetryableDeliveryFailure"
        log.error("sink '%s': %d event(s) dead-lettered (%s): %s", self.name, len(group), reason, exc.message)
        now = _now()
        letters = [
            {
                "sink": self.name,
                "sequence": row.sequence,
                "body": row.body,
                "reason": reason,
                "attempts": attempts,
                "last_status": exc.status,
                "last_error": exc.message,
                "dead_lettered_at": now,
            }
            for row in group
        ]
        async with self.db.write() as conn:
            await outbox.add_dead_letters(conn, letters)
            moved = await outbox.advance(
                conn, self.name, self.owner, group[-1].sequence, now + timedelta(seconds=LEASE_SECONDS)
            )
            if not moved:
                raise LeaseLost()
        self.position, self.attempts, self.next_attempt_at = group[-1].sequence, 0, None

    def _backoff(self, attempts: int) -> float:
        return min(self.config.retry_max_seconds, self.config.retry_initial_seconds * 2 ** (attempts - 1))

    async def close(self) -> None:
        """Releases the lease if held and closes the target."""
        if self.owned:
            with contextlib.suppress(Exception):
                async with self.db.write() as conn:
                    await outbox.release(conn, self.name, self.owner)
        await self.target.close()
