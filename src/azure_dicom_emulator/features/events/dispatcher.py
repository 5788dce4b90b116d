"""The events side of a server process: the inspector it feeds and the delivery process it runs (DESIGN §6)."""

from __future__ import annotations

import asyncio
import logging

from ...runtime.background import forever, wait
from ...settings import Settings
from ...storage import outbox
from ...storage.database import Database
from .delivery import DeliveryProcess
from .envelope import Source
from .inspector import Inspector
from .runner import POLL_SECONDS, READ_LIMIT

log = logging.getLogger(__name__)
WATCH_SECONDS = 1.0


class Dispatcher:
    """The events side of one server process: the source events name, the inspector, and the delivery process.

    Sinks are delivered by a process of their own (``delivery.py``), so their work never competes
    with requests on this process's event loop; it looks for new events every POLL_SECONDS.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.source = Source(settings.events_topic, settings.events_service_host, settings.partitions_enabled)
        self.inspector = Inspector(settings.events_inspector_capacity) if settings.events_inspector else None
        self.tasks: list[asyncio.Task] = []
        self.wakers: list[asyncio.Event] = []
        self.delivery: DeliveryProcess | None = None
        self.follower: InspectorFollower | None = None

    async def start(self, db: Database) -> None:
        """Creates missing cursors (a new sink starts at the newest change), then starts the inspector and delivery."""
        if not self.settings.events_enabled:
            return
        async with db.write() as conn:
            newest = await outbox.newest_sequence(conn)
            await outbox.add_sinks(conn, [config.sink_name for config in self.settings.events], newest)
        if self.inspector is not None:
            self.follower = InspectorFollower(db, self.inspector, newest)
            self.wakers.append(self.follower.wake_event)
            self.tasks.append(forever(self.follower.follow, "events: inspector"))
        if self.settings.events:
            self.delivery = DeliveryProcess(self.settings)
            await self.delivery.start()
            self.tasks.append(forever(self._watch_delivery, "events: delivery watchdog"))

    async def _watch_delivery(self) -> None:
        """Starts the delivery process again if it ends while the server runs."""
        while True:
            await asyncio.sleep(WATCH_SECONDS)
            code = self.delivery.exited()
            if code is not None:
                log.error("the event delivery process ended (exit code %s); starting it again", code)
                self.delivery = DeliveryProcess(self.settings)
                await self.delivery.start()

    def wake(self) -> None:
        """Tells the inspector that new events were committed."""
        for event in self.wakers:
            event.set()

    def forget_events(self) -> None:
        """Empties the inspector after the data was reset: the change feed's sequences start again at 1."""
        if self.follower is not None:
            self.inspector.events.clear()
            self.follower.position = 0
            self.follower.wake_event.set()

    async def stop(self) -> None:
        """Stops the inspector and the delivery process, which gives up its leases on the way out."""
        for task in self.tasks:
            task.cancel()
        await asyncio.gather(*self.tasks, return_exceptions=True)
        if self.delivery is not None:
            await self.delivery.stop()


class InspectorFollower:
    """Feeds this process's inspector with every event committed after the process started."""

    def __init__(self, db: Database, inspector: Inspector, position: int) -> None:
        self.db = db
        self.inspector = inspector
        self.position = position
        self.wake_event = asyncio.Event()

    async def follow(self) -> None:
        """Reads new outbox rows into the inspector, forever."""
        while True:
            async with self.db.read() as conn:
                rows = await outbox.events_after(conn, self.position, READ_LIMIT)
            for row in rows:
                self.inspector.add(row.sequence, row.body)
            if rows:
                self.position = rows[-1].sequence
            else:
                await wait(self.wake_event, POLL_SECONDS)
