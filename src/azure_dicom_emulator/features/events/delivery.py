"""The delivery process: each server process delivers its sinks from a child process of its own.

So the sinks' work never competes with requests on the server's event loop, and on a machine
with a spare core it runs there. The server waits for the child to say it is delivering before
it serves, so the child's start-up does not compete with the first requests. The child stops
when the server sends it "stop" over their pipe, or when the pipe breaks because the server
died, giving up its leases on the way out.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import signal
from multiprocessing.connection import Connection

from ...settings import Settings
from ...storage.database import Database
from .runner import Sinks

log = logging.getLogger(__name__)
STOP_TIMEOUT_SECONDS = 15.0
READY_TIMEOUT_SECONDS = 60.0
AZURE_HTTP_LOGGER = "azure.core.pipeline.policies.http_logging_policy"


class DeliveryProcess:
    """The handle a server process keeps on its delivery process."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.process: multiprocessing.process.BaseProcess | None = None
        self.pipe: Connection | None = None

    async def start(self) -> None:
        """Starts the child (from the forkserver the CPU workers use) and waits until it delivers."""
        context = multiprocessing.get_context("forkserver")
        self.pipe, child_end = context.Pipe()
        # The sinks as read here: the child must not add an events file's sinks a second time.
        data = {**self.settings.model_dump(mode="json", by_alias=True), "events_file": None}
        self.process = context.Process(target=run, args=(data, child_end), name="event-delivery", daemon=True)
        await asyncio.to_thread(self.process.start)
        child_end.close()
        if not await asyncio.to_thread(self.pipe.poll, READY_TIMEOUT_SECONDS):
            log.warning("the event delivery process is slow to start; serving meanwhile")
            return
        with contextlib.suppress(EOFError):
            self.pipe.recv()

    def exited(self) -> int | None:
        """The child's exit code if it ended, else None."""
        return None if self.process is None or self.process.is_alive() else self.process.exitcode

    async def stop(self) -> None:
        """Asks the child to stop and waits for it; kills it if it does not stop in time."""
        if self.process is None or self.pipe is None:
            return
        with contextlib.suppress(OSError):  # the child may be gone already
            self.pipe.send("stop")
        self.pipe.close()
        await asyncio.to_thread(self.process.join, STOP_TIMEOUT_SECONDS)
        if self.process.is_alive():
            log.warning("the event delivery process did not stop in time; killing it")
            self.process.kill()
            await asyncio.to_thread(self.process.join)


def run(settings_data: dict, pipe: Connection) -> None:
    """The child's entry point: delivers every sink until told to stop or orphaned."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server stops us in order on Ctrl-C
    settings = Settings(**settings_data)
    configure_logging(settings.log_level)
    asyncio.run(_deliver(settings, pipe))


def configure_logging(log_level: str) -> None:
    """Logs at ``log_level`` as the server does, except the storage SDK's request and response lines below debug.

    The SDK logs both at INFO, two multi-line entries per queue message, which would cost more
    than sending the message.
    """
    level = logging.getLevelName(log_level.upper())
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger(AZURE_HTTP_LOGGER).setLevel(logging.NOTSET if level <= logging.DEBUG else logging.WARNING)


async def _deliver(settings: Settings, pipe: Connection) -> None:
    db = Database(settings.effective_database_url)
    sinks = Sinks(settings, db)
    sinks.start()
    try:
        pipe.send("ready")
        await asyncio.to_thread(_wait_for_stop, pipe)
    finally:
        await sinks.stop()
        await db.dispose()


def _wait_for_stop(pipe: Connection) -> None:
    try:
        pipe.recv()
    except EOFError:
        log.info("the server is gone; event delivery stops")
