"""The ``azure-storage-queue`` sink: one base64-encoded message per event, as Event Grid sends them.

A queue takes one message per request, and one request at a time cannot keep up with a busy
STOW, so up to ``max_concurrent_messages`` requests are in flight, started in sequence order
over groups of GROUP_WINDOWS times as many events. Messages in flight together may land in the
queue in any order among themselves (Azure Storage queues do not promise order either);
``max_concurrent_messages: 1`` keeps every message in order. When a message fails, the messages
before it that the queue took count as delivered, so only the rest are sent again.

azure-storage-queue's client creates the queue and signs a shared access signature that allows
adding messages; each message is then one Put Message request carrying that signature, on one
aiohttp session. Through the client's pipeline a message cost several times the CPU of the
request itself (a dozen policies, a fresh signature, its XML answer parsed into an object).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import urllib.request
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import aiohttp
from azure.core.exceptions import AzureError, HttpResponseError, ResourceExistsError
from azure.storage.queue import QueueSasPermissions, generate_queue_sas
from azure.storage.queue.aio import QueueClient

from ...settings.event_sinks import StorageQueueSink
from .envelope import in_schema
from .target import DeliveryFailed

TIMEOUT_SECONDS = 30.0  # as long as Event Grid waits for a destination
GROUP_WINDOWS = 8
SIGNATURE_LIFETIME = timedelta(hours=24)
SIGNATURE_RENEWAL = timedelta(hours=1)  # a signature this close to its expiry is replaced before a send
CREATED = 201
MESSAGE_XML = '<?xml version="1.0" encoding="utf-8"?><QueueMessage><MessageText>{}</MessageText></QueueMessage>'


class StorageQueueTarget:
    """Sends events to an Azure Storage queue, creating the queue on first use."""

    endpoint = None  # nothing to validate

    def __init__(self, config: StorageQueueSink) -> None:
        self.config = config
        self.batch_size = config.max_concurrent_messages * GROUP_WINDOWS
        self.in_flight = asyncio.Semaphore(config.max_concurrent_messages)
        # Trusting the environment makes every request look up .netrc and proxies in a thread;
        # only proxies matter to a queue (its requests are signed), so only they turn it on.
        self.trust_env = bool(urllib.request.getproxies())
        self.client = QueueClient.from_connection_string(
            config.connection_string,
            config.queue_name,
            retry_total=0,  # the dispatcher retries, with its own backoff and dead letters
            connection_timeout=TIMEOUT_SECONDS,
            read_timeout=TIMEOUT_SECONDS,
            use_env_settings=self.trust_env,
        )
        self.queue_ready = False
        self.session: aiohttp.ClientSession | None = None
        self.messages_url: str | None = None
        self.signature_expiry: datetime | None = None  # of a signature made here; None for the connection string's
        self.headers = {"x-ms-version": self.client.api_version, "Content-Type": "application/xml; charset=utf-8"}

    async def deliver(self, events: list[dict], delivery_count: int) -> None:
        """Sends each event as one message, several at once; a failure names how many leading events were sent.

        Any storage error fails the group (retryable): messages not started by then are not sent, and
        the events from the first one not taken are tried again.
        """
        if not self.queue_ready:
            await self._create_queue()
        self._renew_signature()
        failed = asyncio.Event()
        sent = await asyncio.gather(*(self._send(event, failed) for event in events), return_exceptions=True)
        for position, result in enumerate(sent):
            if isinstance(result, DeliveryFailed):
                result.delivered = position
                raise result
            if isinstance(result, BaseException):
                raise result

    async def _send(self, event: dict, failed: asyncio.Event) -> None:
        """Sends one message unless a message of its group failed before this one's turn came."""
        text = json.dumps(in_schema(event, self.config.event_schema)).encode()
        body = MESSAGE_XML.format(base64.b64encode(text).decode())
        async with self.in_flight:
            if failed.is_set():
                return  # messages start in sequence order: a failed one comes before this one
            try:
                async with self.session.post(self.messages_url, data=body, headers=self.headers) as response:
                    await response.read()
            except TimeoutError as exc:
                failed.set()
                raise self._failure(f"no answer within {TIMEOUT_SECONDS:g} s") from exc
            except aiohttp.ClientError as exc:
                failed.set()
                raise self._failure(f"cannot reach the queue service: {exc or type(exc).__name__}") from exc
            if response.status != CREATED:
                failed.set()
                code = response.headers.get("x-ms-error-code")
                reason = response.reason or f"status {response.status}"
                raise self._failure(f"{reason}{f' ({code})' if code else ''}", response.status)

    def _failure(self, message: str, status: int | None = None) -> DeliveryFailed:
        return DeliveryFailed(f"queue '{self.config.queue_name}': {message}", status)

    async def _create_queue(self) -> None:
        try:
            with contextlib.suppress(ResourceExistsError):
                await self.client.create_queue()
        except HttpResponseError as exc:
            raise self._failure(exc.reason or str(exc), exc.status_code) from exc
        except AzureError as exc:
            raise self._failure(exc.message or str(exc)) from exc
        self.session = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
            trust_env=self.trust_env,
            cookie_jar=aiohttp.DummyCookieJar(),  # a queue sets none: a jar would only cost each request a lookup
        )
        self.queue_ready = True

    def _renew_signature(self) -> None:
        """Points ``messages_url`` at the queue's messages with a signature that stays valid for a while yet."""
        now = datetime.now(UTC)
        if self.messages_url is not None and (
            self.signature_expiry is None or self.signature_expiry - now > SIGNATURE_RENEWAL
        ):
            return
        scheme, netloc, path, signature, _ = urlsplit(self.client.url)
        if not signature:  # none in the connection string: one signed with its account key
            self.signature_expiry = now + SIGNATURE_LIFETIME
            signature = generate_queue_sas(
                self.client.account_name,
                self.config.queue_name,
                self.client.credential.account_key,
                permission=QueueSasPermissions(add=True),
                expiry=self.signature_expiry,
            )
        self.messages_url = urlunsplit((scheme, netloc, f"{path}/messages", signature, ""))

    async def close(self) -> None:
        """Closes the queue client's and the session's connections."""
        await self.client.close()
        if self.session is not None:
            await self.session.close()
