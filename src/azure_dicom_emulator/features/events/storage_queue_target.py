"""The ``azure-storage-queue`` sink: one base64-encoded message per event, as Event Grid sends them.

A queue takes one message per request, and one request at a time cannot keep up with a busy
STOW, so up to ``max_concurrent_messages`` requests are in flight, started in sequence order
over groups of GROUP_WINDOWS times as many events. Messages in flight together may land in the
queue in any order among themselves (Azure Storage queues do not promise order either);
``max_concurrent_messages: 1`` keeps every message in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from ...settings.event_sinks import StorageQueueSink
from .envelope import in_schema
from .target import DeliveryFailed

TIMEOUT_SECONDS = 30.0  # as long as Event Grid waits for a destination
GROUP_WINDOWS = 8


class StorageQueueTarget:
    """Sends events to an Azure Storage queue, creating the queue on first use."""

    endpoint = None  # nothing to validate

    def __init__(self, config: StorageQueueSink) -> None:
        self.config = config
        self.batch_size = config.max_concurrent_messages * GROUP_WINDOWS
        self.in_flight = asyncio.Semaphore(config.max_concurrent_messages)
        self.client = QueueClient.from_connection_string(
            config.connection_string,
            config.queue_name,
            message_encode_policy=TextBase64EncodePolicy(),
            retry_total=0,  # the dispatcher retries, with its own backoff and dead letters
            connection_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
            # Trusting the environment makes every request look up .netrc and proxies in a thread;
            # only proxies matter to a queue (its requests are signed), so only they turn it on.
            use_env_settings=bool(urllib.request.getproxies()),
        )
        self.queue_ready = False

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """Sends each event as one message; any storage error fails the group (retryable, the whole group again)."""
        try:
            if not self.queue_ready:
                await self._create_queue()
            sent = await asyncio.gather(*(self._send(event) for event in events), return_exceptions=True)
            failure = next((result for result in sent if isinstance(result, BaseException)), None)
            if failure is not None:
                raise failure
        except HttpResponseError as exc:
            raise DeliveryFailed(f"queue '{self.config.queue_name}': {exc.reason or exc}", exc.status_code) from exc
        except AzureError as exc:
            raise DeliveryFailed(f"queue '{self.config.queue_name}': {exc.message or exc}") from exc

    async def _send(self, event: dict) -> None:
        async with self.in_flight:
            await self.client.send_message(json.dumps(in_schema(event, self.config.event_schema)))

    async def _create_queue(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.client.create_queue()
        self.queue_ready = True

    async def close(self) -> None:
        """Closes the queue client's connections."""
        await self.client.close()
