"""The ``azure-storage-queue`` sink: one base64-encoded message per event, as Event Grid sends them."""

from __future__ import annotations

import contextlib
import json

from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from .config import StorageQueueSink
from .envelope import in_schema
from .target import DeliveryFailed


class StorageQueueTarget:
    """Sends events to an Azure Storage queue, creating the queue on first use."""

    batch_size = 1
    endpoint = None  # nothing to validate

    def __init__(self, config: StorageQueueSink, timeout_seconds: float = 30.0) -> None:
        self.config = config
        self.client = QueueClient.from_connection_string(
            config.connection_string,
            config.queue_name,
            message_encode_policy=TextBase64EncodePolicy(),
            retry_total=0,  # the dispatcher retries, with its own backoff and dead letters
            connection_timeout=timeout_seconds,
            read_timeout=timeout_seconds,
        )
        self.queue_ready = False

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """Sends each event as one message; any storage error is a retryable failure."""
        try:
            if not self.queue_ready:
                await self._create_queue()
            for event in events:
                await self.client.send_message(json.dumps(in_schema(event, self.config.event_schema)))
        except HttpResponseError as exc:
            raise DeliveryFailed(f"queue '{self.config.queue_name}': {exc.reason or exc}", exc.status_code) from exc
        except AzureError as exc:
            raise DeliveryFailed(f"queue '{self.config.queue_name}': {exc.message or exc}") from exc

    async def _create_queue(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self.client.create_queue()
        self.queue_ready = True

    async def close(self) -> None:
        """Closes the queue client's connections."""
        await self.client.close()
